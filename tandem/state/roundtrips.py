"""Counting the round trips a Redis client makes: :func:`counting_client`.

A redis-py connection sends each command, or each pipeline, with one
``send_packed_command``; counting those calls counts round trips. The tests that hold a
decision to one round trip and ``benchmarks/bench_decision.py`` use it::

    client, trips = counting_client("redis://127.0.0.1:6379/0")
    counters = RedisCounters("redis://127.0.0.1:6379/0", client=client)
    before = trips.sent
    ...                                   # one decision
    print(trips.sent - before)            # its round trips
"""

from __future__ import annotations

from typing import Any

__all__ = ["RoundTrips", "counting_client"]


class RoundTrips:
    """How many commands or pipelines the client's connections sent (``sent``)."""

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = 0


def counting_client(url: str, *, socket_timeout: float = 2.0) -> tuple[Any, RoundTrips]:
    """A ``redis.Redis`` for ``url`` (``decode_responses=True``, as
    :class:`~tandem.state.RedisCounters` needs it) whose connections count what they send
    into the :class:`RoundTrips` returned with it."""
    import redis

    trips = RoundTrips()

    class CountingConnection(redis.Connection):
        def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            trips.sent += 1
            super().send_packed_command(command, check_health)

    client = redis.Redis.from_url(
        url,
        connection_class=CountingConnection,
        socket_timeout=socket_timeout,
        decode_responses=True,
    )
    return client, trips
