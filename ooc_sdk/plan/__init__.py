"""Planning: how a model runs out of core in a given SRAM budget (planner.py) and what it costs
(latency.py)."""
