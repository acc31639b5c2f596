"""Planning: how a model runs in a given SRAM budget, and what it costs.

* ``planner``: ``plan()``, the out-of-core planner's entry point (weights paged from flash);
* ``schedule``: what an out-of-core plan is (``Plan``, ``PlanStep``, ``Piece``), its SRAM
  figure, JSON and estimates; ``BudgetError``;
* ``paged``: the per-layer search (operators split along output channels to fit a slot);
* ``fused``: the search with fused activations, weight re-streaming and spilling;
* ``fusion/``: the fusion planner (fused blocks run row by row, in strips), in core or as the
  fused search's activation schedule;
* ``latency``: the latency model (flash, crypto and CPU pipelined); ``spill``: the flash spill
  ring's traffic and wear; ``chunks``: the image's chunk layout; ``plot``: the fused timeline.
"""
