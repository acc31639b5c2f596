"""Planning: how a model runs out of core in a given SRAM budget (latency model for now)."""
