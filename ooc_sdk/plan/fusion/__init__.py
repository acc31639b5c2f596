"""The fusion planner: run chains of layers row by row, in column strips, to shrink activation SRAM.

Per-layer execution keeps every operator's whole input and output tensors in SRAM. A *fused
block* runs a run of consecutive operators (convolutions, depthwise convolutions, pooling,
padding, residual ADDs, a global average at the end) row by row instead: each intermediate
tensor lives in a small *ring* holding only the rows its consumers still need, and the block's
last operator (its *sink*) pulls rows through the chain on demand. A block may also run in
``n`` vertical *strips*: each strip computes a column range of the sink's output, top to
bottom, and the halo columns the strips share are computed once per strip (recomputation:
MACs rise, rings narrow). Rows are never recomputed: the ring is the row cache.

The search is a path problem over the operators in execution order: cutting between operators
i and j and running [i, j) as one block (one operator alone is a block too) is an edge, whose
cost is the SRAM live while it runs -- its rings, its accumulators and scratch, the whole tensors
it writes, and every whole tensor produced earlier and still needed (a residual skip that spans
the block) -- and whose MACs include the strips' recomputation. Two objectives:

* ``min_sram(max_mac_overhead=k)``: the smallest working SRAM whose MACs stay <= k x the model's.
* ``min_latency(sram=budget)``: the fewest MACs (hence the lowest estimated latency: in-core, the
  compute is the latency) whose working SRAM fits the budget.

*Working SRAM* is everything the runtime holds in its arena except a model input it reads
through the input callback (streamed, row by row) and the model outputs: what the arena needs
besides the outputs, which the layout places at its top.

The row schedule is deterministic and the C runtime (c_runtime/src/fused.c) runs the very same
one; the simulator runs it once per candidate block to size every ring exactly.

The modules, each importing only those above it:

* ``model``: the pieces of a fused schedule (``Node``, ``Block``, ``SpillTensor``), the node modes
  and limits the runtime's model tables share (``NODE_*``, ``MAX_BLOCK_NODES``), ``FusionError``;
* ``rows``: how each operator's output rows depend on its inputs' rows (the row model), and the
  channel-split chains (1x1 expansion, depthwise, 1x1 projection) run as one node;
* ``graph``: ``GraphFacts``, what the search reuses about one graph (row models, liveness, which
  inputs stream, which tensors may spill), and an operator run alone as a block;
* ``simulate``: one candidate block's nodes, its row schedule run once (ring sizes, rows made),
  its column strips and its cost (SRAM, MACs);
* ``stream``: ``StreamCosts``, weight re-streaming inside fused blocks (the out-of-core planner's);
* ``layout``: a chosen chain of blocks laid out in the arena, the spilled tensors cut into
  records, and ``FusionPlan``, the laid-out schedule (digest, timeline, JSON);
* ``search``: the candidate blocks, the SRAM/cost Pareto search over cut points,
  ``FusionSearch`` and ``plan_fusion``;
* ``spilling``: the smallest working SRAM within a MAC limit when whole tensors may spill to the
  flash ring (``least_spilling``).
"""
