"""Counters shared by every proxy node in one Redis: :class:`RedisCounters`.

Keys in Redis (``P`` is the prefix, ``tandem:`` by default; ``KEY`` a counter key):

- ``P n:KEY``: plain counter (string);
- ``P c:KEY``: slots (sorted set: member call id, score its expiry);
- ``P call:CALL_ID``: the slot keys a call holds (sorted set, score the call's expiry);
- ``P node:NODE``: the calls this node acquired (sorted set, score their expiry);
- ``P w:WINDOW:STEP:KEY``: a window (hash: bucket number -> amount, ``s`` -> their sum) and
  ``P wi:WINDOW:STEP:KEY`` its index (sorted set of the bucket numbers): adding or reading
  costs O(log n), not one read per bucket;
- ``P si:KEY`` and ``P sb:KEY|START``: a series (sorted set of bucket starts; one hash of
  fields per bucket);
- ``P m:KEY``: a mark (string ``EXPIRY|VALUE``).

Expiry is judged against the caller's ``at`` inside the scripts (expired slots are removed
before a key is counted), so no node's clock matters but the caller's. Every key also gets a
Redis expiry (PEXPIRE, real time: its content's lifetime plus ``grace``) so keys nobody
touches any more disappear by themselves.
"""

from __future__ import annotations

import hashlib
import math
import socket
from collections.abc import Callable, Mapping
from typing import Any

from tandem.errors import StateError, StateUnavailableError
from tandem.state import scripts
from tandem.state.batch import Op, QueuedBatch
from tandem.state.windows import (
    bucket_of,
    check_ttl,
    series_cutoff,
    series_start,
    window_buckets,
)

__all__ = ["RedisCounters"]

_SCRIPTS = {
    name: getattr(scripts, name)
    for name in (
        "ACQUIRE",
        "RELEASE",
        "FORGET_NODE",
        "INCR",
        "ADD",
        "TOTAL",
        "RECORD",
        "SERIES",
        "MARK",
    )
}
_OCCUPIED = """
local v = redis.call('GET', KEYS[1])
return (tonumber(v) or 0) + redis.call('ZCOUNT', KEYS[2], '(' .. ARGV[1], '+inf')
"""
_SCRIPTS["OCCUPIED"] = _OCCUPIED
_SHA = {name: hashlib.sha1(body.encode()).hexdigest() for name, body in _SCRIPTS.items()}
_READ_ONLY = {_SHA[name] for name in ("TOTAL", "SERIES", "OCCUPIED")}
_LOAD_ATTEMPTS = 3  # the scripts may be flushed again between loading and running them

# One command for Redis: (command, arguments); and how its reply becomes the result.
_Command = tuple[str, tuple[Any, ...]]
_Decode = Callable[[Any], Any]


def _num(value: float) -> str:
    """An instant or score as Redis and Lua read it back exactly."""
    return repr(float(value))


def _ident(value: Any) -> Any:
    return value


def _int(value: Any) -> int:
    return int(value or 0)


def _bool(value: Any) -> bool:
    return bool(int(value))


def _reads(command: _Command) -> bool:
    """Whether the command only reads (so that running it again changes nothing)."""
    name, args = command
    return name != "evalsha" or args[0] in _READ_ONLY


def _window_total(reply: list[Any]) -> int:
    """A window's sum minus the amounts of the buckets outside it, exactly."""
    return int(reply[0] or 0) - sum(int(v) for v in reply[1:])


def _series(reply: list[Any]) -> list[tuple[int, dict[str, int]]]:
    out = []
    for i in range(0, len(reply), 2):
        flat = reply[i + 1]
        out.append((int(reply[i]), {flat[j]: int(flat[j + 1]) for j in range(0, len(flat), 2)}))
    return out


def _mark_value(reply: Any, at: float) -> str | None:
    if reply is None:
        return None
    expires, _, value = reply.partition("|")
    return value if float(expires) > at else None


class RedisCounters:
    """:class:`~tandem.state.protocol.Counters` in one Redis server, shared by every proxy
    node (redis-py; every state change is one Lua script, atomic on the server, sent by
    EVALSHA).

    ``url`` is a redis-py URL (``redis://127.0.0.1:6379/0``). ``prefix`` starts every key
    (one prefix per deployment, or per test). ``node`` names this proxy node (default: the
    host name): the calls it acquires are listed under it, so that a node that restarts
    calls :meth:`forget_node` and frees the slots of the calls that died with it, and only
    those (the other nodes' calls keep theirs). Socket timeouts are short by default
    (``socket_timeout`` seconds, no retries): an unreachable server raises
    :class:`~tandem.errors.StateUnavailableError` at once, which
    :class:`~tandem.state.FallbackCounters` turns into local counters. Nothing is sent to
    the server until the first operation.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "tandem:",
        node: str | None = None,
        socket_timeout: float = 0.25,
        connect_timeout: float | None = None,
        grace: float = 60.0,
        client: Any = None,
    ) -> None:
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError as exc:  # pragma: no cover - redis is a declared dependency
            raise StateError(
                "RedisCounters needs the redis package: pip install 'tandem[redis]'"
            ) from exc
        self._errors = redis.exceptions
        self.url = url
        self.prefix = prefix
        self.node = node if node is not None else socket.gethostname()
        self._grace = check_ttl(grace, "grace")
        if client is None:
            client = redis.Redis.from_url(
                url,
                socket_timeout=socket_timeout,
                socket_connect_timeout=connect_timeout or socket_timeout,
                retry=Retry(NoBackoff(), 0),
                decode_responses=True,
            )
        self.client = client
        self._node_key = f"{prefix}node:{self.node}"
        self._call_prefix = f"{prefix}call:"

    def __repr__(self) -> str:
        return f"RedisCounters({self.url!r}, prefix={self.prefix!r}, node={self.node!r})"

    def close(self) -> None:
        """Close the connections to the server."""
        self.client.close()

    def _gc(self, seconds: float) -> int:
        """A key's real-time expiry (ms) when its content lives ``seconds``."""
        return math.ceil((seconds + self._grace) * 1000)

    def _script(self, name: str, keys: list[str], argv: list[Any]) -> _Command:
        return ("evalsha", (_SHA[name], len(keys), *keys, *argv))

    # -- plans: one command per operation, and how its reply becomes the result ------------
    def _plan(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[_Command, _Decode]:
        planner = getattr(self, f"_plan_{name}")
        result: tuple[_Command, _Decode] = planner(*args, **kwargs)
        return result

    def _plan_current(self, key: str) -> tuple[_Command, _Decode]:
        return ("get", (self.prefix + "n:" + key,)), _int

    def _plan_incr(self, key: str, delta: int = 1) -> tuple[_Command, _Decode]:
        return self._script("INCR", [self.prefix + "n:" + key], [int(delta)]), _int

    def _plan_acquire(
        self, call_id: str, limits: Mapping[str, int], *, ttl: float, at: float
    ) -> tuple[_Command, _Decode]:
        ttl = check_ttl(ttl)
        names = list(dict.fromkeys(limits))
        caps = []
        for k in names:
            cap = limits[k]
            if type(cap) is not int or cap < 0:
                raise ValueError(f"cap of {k!r} must be a whole number >= 0, not {cap!r}")
            caps.append(cap)
        keys = [self._call_prefix + call_id, self._node_key]
        keys += [self.prefix + "c:" + k for k in names]
        argv: list[Any] = [call_id, _num(at), _num(at + ttl), self._gc(ttl), *caps]

        def decode(reply: Any) -> str | None:
            i = int(reply)
            return None if i == 0 else names[i - 1]

        return self._script("ACQUIRE", keys, argv), decode

    def _plan_release(self, call_id: str, *, at: float | None = None) -> tuple[_Command, _Decode]:
        keys = [self._call_prefix + call_id, self._node_key]
        argv = [call_id, "" if at is None else _num(at)]
        return self._script("RELEASE", keys, argv), _bool

    def _plan_in_use(self, key: str, *, at: float) -> tuple[_Command, _Decode]:
        return ("zcount", (self.prefix + "c:" + key, "(" + _num(at), "+inf")), _int

    def _plan_occupied(self, key: str, *, at: float) -> tuple[_Command, _Decode]:
        keys = [self.prefix + "n:" + key, self.prefix + "c:" + key]
        return self._script("OCCUPIED", keys, [_num(at)]), _int

    def _window_keys(self, key: str, window: int, step: int) -> list[str]:
        return [f"{self.prefix}w:{window}:{step}:{key}", f"{self.prefix}wi:{window}:{step}:{key}"]

    def _plan_add(
        self, key: str, amount: int, *, window: int, step: int, at: float
    ) -> tuple[_Command, _Decode]:
        n = window_buckets(window, step)
        argv = [bucket_of(at, step), n, int(amount), self._gc(window + step)]
        return self._script("ADD", self._window_keys(key, window, step), argv), _window_total

    def _plan_total(
        self, key: str, *, window: int, step: int, at: float
    ) -> tuple[_Command, _Decode]:
        n = window_buckets(window, step)
        argv = [bucket_of(at, step), n]
        return self._script("TOTAL", self._window_keys(key, window, step), argv), _window_total

    def _plan_record(
        self, key: str, fields: Mapping[str, int], *, at: float, bucket: int, keep: int
    ) -> tuple[_Command, _Decode]:
        start = series_start(at, bucket)
        cutoff = series_cutoff(at, keep)
        argv: list[Any] = [start, _num(cutoff), self._gc(keep + bucket), f"{self.prefix}sb:{key}|"]
        for name, amount in fields.items():
            argv += [name, int(amount)]
        return self._script("RECORD", [f"{self.prefix}si:{key}"], argv), lambda _: None

    def _plan_series(self, key: str, *, since: float, until: float) -> tuple[_Command, _Decode]:
        argv = [_num(since), _num(until), f"{self.prefix}sb:{key}|"]
        return self._script("SERIES", [f"{self.prefix}si:{key}"], argv), _series

    def _plan_mark(
        self, key: str, *, ttl: float, at: float, value: str = "1"
    ) -> tuple[_Command, _Decode]:
        ttl = check_ttl(ttl)
        argv = [_num(at), _num(at + ttl), value, self._gc(ttl)]
        return self._script("MARK", [self.prefix + "m:" + key], argv), _bool

    def _plan_marked(self, key: str, *, at: float) -> tuple[_Command, _Decode]:
        return ("get", (self.prefix + "m:" + key,)), lambda reply: _mark_value(reply, at)

    # -- running commands ------------------------------------------------------------------
    def _load_scripts(self) -> None:
        for body in _SCRIPTS.values():
            self.client.script_load(body)

    def _fail(self, exc: Exception) -> Exception:
        if isinstance(exc, self._errors.ConnectionError | self._errors.TimeoutError | OSError):
            return StateUnavailableError(f"shared state at {self.url} unreachable: {exc}")
        return StateError(f"shared state at {self.url} refused an operation: {exc}")

    def _one(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        (command, cargs), decode = self._plan(name, args, kwargs)
        send = getattr(self.client, command)
        try:
            for attempt in range(_LOAD_ATTEMPTS):
                try:
                    reply = send(*cargs)
                    break
                except self._errors.NoScriptError:
                    if attempt == _LOAD_ATTEMPTS - 1:
                        raise
                    self._load_scripts()
        except self._errors.RedisError as exc:
            raise self._fail(exc) from exc
        return decode(reply)

    def _run(self, ops: list[Op]) -> list[Any]:
        """Every queued operation in one pipeline (one round trip; another one only when
        the server lost the scripts: a restart, a SCRIPT FLUSH)."""
        plans = [self._plan(name, args, kwargs) for name, args, kwargs in ops]
        NoScript = self._errors.NoScriptError
        try:
            replies = self._pipeline([cmd for cmd, _ in plans])
            for _ in range(_LOAD_ATTEMPTS - 1):
                missing = [i for i, r in enumerate(replies) if isinstance(r, NoScript)]
                if not missing:
                    break
                # The server lost the scripts (a restart, SCRIPT FLUSH): load them and run
                # again, in order, what failed and the reads after it (nothing that changes
                # state ran twice: only what failed and reads are sent again).
                self._load_scripts()
                again = [
                    i
                    for i in range(missing[0], len(plans))
                    if isinstance(replies[i], NoScript) or _reads(plans[i][0])
                ]
                for i, reply in zip(
                    again, self._pipeline([plans[i][0] for i in again]), strict=True
                ):
                    replies[i] = reply
        except self._errors.RedisError as exc:
            raise self._fail(exc) from exc
        for reply in replies:
            if isinstance(reply, Exception):
                raise self._fail(reply) from reply
        return [decode(reply) for (_, decode), reply in zip(plans, replies, strict=True)]

    def _pipeline(self, commands: list[_Command]) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for command, cargs in commands:
            getattr(pipe, command)(*cargs)
        replies: list[Any] = pipe.execute(raise_on_error=False)
        return replies

    # -- the Counters protocol ------------------------------------------------------------------
    def current(self, key: str) -> int:
        """The plain counter's value (0 when never set)."""
        result: int = self._one("current", (key,), {})
        return result

    def incr(self, key: str, delta: int = 1) -> int:
        """Add ``delta``; the new value, never below zero."""
        result: int = self._one("incr", (key, delta), {})
        return result

    def decr(self, key: str, delta: int = 1) -> int:
        """Subtract ``delta``; the new value, never below zero."""
        return self.incr(key, -delta)

    def acquire(
        self, call_id: str, limits: Mapping[str, int], *, ttl: float, at: float
    ) -> str | None:
        """Take a slot under every key of ``limits``, all or nothing, in one script; see
        :meth:`tandem.state.protocol.Counters.acquire`."""
        result: str | None = self._one("acquire", (call_id, limits), {"ttl": ttl, "at": at})
        return result

    def release(self, call_id: str, *, at: float | None = None) -> bool:
        """Free the slots of ``call_id``, from whichever node acquired them; idempotent."""
        result: bool = self._one("release", (call_id,), {"at": at})
        return result

    def in_use(self, key: str, *, at: float) -> int:
        """Live slots under ``key`` at ``at``."""
        result: int = self._one("in_use", (key,), {"at": at})
        return result

    def occupied(self, key: str, *, at: float) -> int:
        """The plain counter plus the live slots under ``key``."""
        result: int = self._one("occupied", (key,), {"at": at})
        return result

    def add(self, key: str, amount: int, *, window: int, step: int, at: float) -> int:
        """Add ``amount`` to the window; the total at ``at`` including it."""
        result: int = self._one("add", (key, amount), {"window": window, "step": step, "at": at})
        return result

    def total(self, key: str, *, window: int, step: int, at: float) -> int:
        """The window total at ``at``."""
        result: int = self._one("total", (key,), {"window": window, "step": step, "at": at})
        return result

    def record(
        self, key: str, fields: Mapping[str, int], *, at: float, bucket: int, keep: int
    ) -> None:
        """Add ``fields`` to the series bucket holding ``at``; drop buckets older than
        ``keep`` seconds."""
        self._one("record", (key, fields), {"at": at, "bucket": bucket, "keep": keep})

    def series(self, key: str, *, since: float, until: float) -> list[tuple[int, dict[str, int]]]:
        """``[(bucket start, fields)]`` with ``since <= start <= until``, oldest first."""
        result: list[tuple[int, dict[str, int]]] = self._one(
            "series", (key,), {"since": since, "until": until}
        )
        return result

    def mark(self, key: str, *, ttl: float, at: float, value: str = "1") -> bool:
        """Set the mark until ``at + ttl`` unless it is live; True when this call set it."""
        result: bool = self._one("mark", (key,), {"ttl": ttl, "at": at, "value": value})
        return result

    def marked(self, key: str, *, at: float) -> str | None:
        """The mark's value when live at ``at``."""
        result: str | None = self._one("marked", (key,), {"at": at})
        return result

    def batch(self) -> QueuedBatch:
        """A batch sent as one pipeline: one round trip."""
        return QueuedBatch(self._run)

    # -- node share -----------------------------------------------------------------------------
    def forget_node(self) -> int:
        """Free the slots of every call this node (``node``) acquired and has not released:
        what a proxy node does when it starts again after a crash, since the calls it
        carried died with it. Other nodes' calls keep their slots. How many calls."""
        command = self._script("FORGET_NODE", [self._node_key], [self._call_prefix])
        try:
            try:
                reply = self.client.evalsha(*command[1])
            except self._errors.NoScriptError:
                self._load_scripts()
                reply = self.client.evalsha(*command[1])
        except self._errors.RedisError as exc:
            raise self._fail(exc) from exc
        return int(reply)

    def clear(self) -> int:
        """Delete every key under this prefix (all nodes' state: tests, a fresh
        deployment); how many keys. Uses SCAN, never KEYS."""
        try:
            pattern = "".join("\\" + ch if ch in "*?[]\\" else ch for ch in self.prefix)
            names = list(self.client.scan_iter(match=pattern + "*", count=1000))
            for i in range(0, len(names), 500):
                self.client.delete(*names[i : i + 500])
        except self._errors.RedisError as exc:
            raise self._fail(exc) from exc
        return len(names)
