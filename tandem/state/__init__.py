"""Shared state for every proxy node: concurrent-call slots, sliding-window counts and
sums, and the time series quality scores are computed from (in memory or in Redis).

One interface, :class:`Counters`; :class:`MemoryCounters` for one process,
:class:`RedisCounters` for many proxy nodes sharing one Redis, and
:class:`FallbackCounters` to keep going on local counters when Redis cannot be reached.
Key names come from :func:`key` (and :func:`carrier_calls_key`). :class:`Gather` puts
what the parts of one decision read and write into one round trip per backend;
:func:`counting_client` counts a Redis client's round trips.
"""

from tandem.state.batch import EagerBatch, QueuedBatch
from tandem.state.fallback import FALLBACK_NOTE, FallbackCounters
from tandem.state.gather import Gather
from tandem.state.keys import carrier_calls_key, key
from tandem.state.memory import MemoryCounters
from tandem.state.protocol import Counters, CountersBatch
from tandem.state.redis_counters import RedisCounters
from tandem.state.roundtrips import RoundTrips, counting_client
from tandem.state.windows import bucket_of, series_start, window_buckets

__all__ = [
    "FALLBACK_NOTE",
    "Counters",
    "CountersBatch",
    "EagerBatch",
    "FallbackCounters",
    "Gather",
    "MemoryCounters",
    "QueuedBatch",
    "RedisCounters",
    "RoundTrips",
    "bucket_of",
    "carrier_calls_key",
    "counting_client",
    "key",
    "series_start",
    "window_buckets",
]
