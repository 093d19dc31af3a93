"""Shared state for every proxy node: concurrent-call slots, sliding-window counts and
sums, and the time series quality scores are computed from (in memory or in Redis)."""
