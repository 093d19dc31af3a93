"""The routing service both servers share: one decision per request, the snapshot file it
reloads, the metrics and the decision log line.

:class:`RouteService` holds what ``tandem route`` would build from the same options: a
:class:`~tandem.lcr.Router` alone, or the call lifecycle (:class:`~tandem.calls.Calls`:
fraud rules, shared state, credit) when asked for. Its decisions are those of ``tandem
route``, and :meth:`Outcome.json` is exactly ``tandem route --json`` for the same options.

**Reload.** :meth:`RouteService.reload` loads the snapshot file again and swaps it in
(:meth:`Router.swap`: atomic, a decision never mixes two tables); a file that does not
load (half written, corrupt, wrongly signed) leaves the table in use and is counted.
:meth:`RouteService.changed` tells whether the file was replaced or rewritten since the
last load (inode, size, modification time). With a routing config file (``--config``),
:meth:`RouteService.reload_config` loads it again and the router follows it from the next
decision on (:meth:`Router.reconfigure`); a file that does not load leaves the config in
use. :attr:`RouteService.sip_texts` (the ``302`` texts kept per route span) is emptied on
every swap and every config reload.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tandem.errors import NumberError, TandemError, UnknownCustomerError
from tandem.lcr.table import RoutingTable
from tandem.serve.answer import BlockAnswer, RedirectTexts, block_answer, error_answer
from tandem.serve.metrics import Metrics

if TYPE_CHECKING:
    from tandem.calls import Call, CallDecision, Calls
    from tandem.lcr.router import Decision, Router

__all__ = ["LOG", "Outcome", "RouteService", "freeze_heap"]

#: The servers' logger: one line per decision at DEBUG, reloads and errors above.
LOG = logging.getLogger("tandem.serve")


def freeze_heap() -> None:
    """Move every object alive now out of the cyclic garbage collector's reach
    (:func:`gc.freeze`): a server calls it once its table is loaded and after each swap.
    A full collection walks every tracked object, a loaded 40 x 150,000 table's included
    (about 250 ms here), and stalls every request behind it; the table's objects live as
    long as the table and are freed by their reference counts when a swap drops it (a
    table holds no reference cycle: a property test says so)."""
    gc.freeze()


@dataclass(slots=True)
class Outcome:
    """One request's answer: the decision (None when the call could not be decided), its
    id, the call in the lifecycle (None without one), and ``block`` (the SIP answer of a
    blocked or undecidable call; None when routed)."""

    decision: Decision | CallDecision | None
    decision_id: str
    call: Call | None
    block: BlockAnswer | None
    lifecycle_json: bool

    @property
    def routed(self) -> bool:
        """Whether the call has routes."""
        return self.block is None

    def json(self) -> str:
        """The decision's JSON text: :meth:`Decision.to_json` (``tandem route --json``), or
        the lifecycle's :meth:`CallDecision.to_json` when the service runs the options
        that make ``tandem route`` print it (--fraud, --redis, --credit)."""
        decision = self.decision
        assert decision is not None
        if self.lifecycle_json:
            return decision.to_json()
        inner = getattr(decision, "decision", decision)
        text: str = inner.to_json()
        return text

    def to_dict(self) -> dict[str, Any]:
        """The decision object of ``tandem route --json`` (with the lifecycle's fields when
        the service runs the lifecycle's options), or ``{"error", "reason", "code"}``."""
        decision = self.decision
        if decision is None:
            block = self.block
            assert block is not None
            return {"error": block.kind, "reason": block.reason, "sip_code": block.code}
        if self.lifecycle_json:
            return decision.to_dict()
        inner = getattr(decision, "decision", decision)
        out: dict[str, Any] = inner.to_dict()
        return out


class RouteService:
    """Decides calls for a server (see the module docstring).

    ``router``: the router (also the lifecycle's, when ``calls`` is given); ``table_path``
    the snapshot file it was loaded from (reloaded from there, verified with ``key`` when
    given); ``calls``: the lifecycle, when the server runs fraud rules, shared state or
    credit (then the JSON carries the lifecycle's fields, as ``tandem route`` prints them);
    ``keep_calls``: keep routed calls in the lifecycle until their end is reported (the
    HTTP API does, ``POST /calls/{id}/end``, for calls decided with a call id; a redirect
    server never sees the end); ``lifecycle_json``: the JSON carries the lifecycle's
    fields (default: when ``calls`` is given)."""

    def __init__(
        self,
        router: Router,
        table_path: str | os.PathLike[str],
        *,
        metrics: Metrics,
        calls: Calls | None = None,
        key: bytes | None = None,
        keep_calls: bool = True,
        lifecycle_json: bool | None = None,
        config_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.router = router
        #: the routing config file the router follows (None: none given)
        self.config_path = None if config_path is None else Path(config_path)
        self._config_stat = self._stat_of(self.config_path)
        #: the ``302`` texts of routed calls, kept per route span (see RedirectTexts)
        self.sip_texts = RedirectTexts()
        self.calls = calls
        self.table_path = Path(table_path)
        self.key = key
        self.metrics = metrics
        self.keep_calls = keep_calls
        self.lifecycle_json = calls is not None if lifecycle_json is None else lifecycle_json
        self.loaded_at = time.time()
        self._stat = self._file_stat()
        self.table_mtime = self._stat[2] / 1e9 if self._stat else self.loaded_at
        self._ids = 0
        self._id_prefix = os.urandom(3).hex()
        metrics.read(
            "tandem_table_age_seconds",
            "Seconds since the snapshot in use was written (its file's modification time).",
            "gauge",
            lambda: max(0.0, time.time() - self.table_mtime),
        )
        metrics.read(
            "tandem_table_loaded_timestamp_seconds",
            "When the snapshot in use was loaded (Unix time).",
            "gauge",
            lambda: self.loaded_at,
        )
        metrics.read(
            "tandem_table_valid_until_timestamp_seconds",
            "End of the validity window of the snapshot in use (Unix time).",
            "gauge",
            lambda: float(min(self.router.table.valid_until, 2**53)),
        )
        metrics.read(
            "tandem_redis_fallbacks_total",
            "Decisions and ends made on local counters while the shared state was unreachable.",
            "counter",
            lambda: float(self.calls.fell_back if self.calls is not None else 0),
        )

    # -- deciding ----------------------------------------------------------------------------
    def next_id(self) -> str:
        """A new decision id (unique in this process; the process's random prefix)."""
        self._ids += 1
        return f"{self._id_prefix}-{self._ids:x}"

    def decide(
        self,
        number: str,
        *,
        customer: str | None,
        source_ip: str | None,
        at: int,
        call_id: str | None,
    ) -> Outcome:
        """Decide one call; never raises for the caller's input: a bad number or an unknown
        customer gives an outcome with ``block`` set (484, 403). A call without an id,
        where the lifecycle would add nothing to the router's decision and forget the call
        at once (:meth:`~tandem.calls.Calls.router_alone`, the router's JSON), is decided by
        the router alone: the same decision, without a call record made and dropped."""
        started = time.perf_counter()
        decision_id = self.next_id()
        call = None
        decision: Decision | CallDecision | None = None
        try:
            calls = self.calls
            if calls is not None and (
                call_id is not None or self.lifecycle_json or not calls.router_alone()
            ):
                call = calls.route(
                    number, customer=customer, source_ip=source_ip, at=at, call_id=call_id
                )
                decision = call.decision
                if not decision.blocked and (not self.keep_calls or call_id is None):
                    # no end will come (a redirect server, or no call id to end it by)
                    calls.forget(call.call_id)
            else:
                decision = self.router.route(
                    number, customer=customer, source_ip=source_ip, at=at, call_id=call_id
                )
            block = block_answer(decision) if decision.blocked else None
        except NumberError as exc:
            block = error_answer("bad_number", str(exc))
        except UnknownCustomerError as exc:
            block = error_answer("unknown_customer", str(exc))
        except TandemError as exc:
            block = error_answer("error", str(exc))
        elapsed = time.perf_counter() - started
        if block is None:
            self.metrics.decision("routed", elapsed)
        elif decision is None and block.kind == "error":
            self.metrics.decision("error", elapsed)
        else:
            self.metrics.decision("blocked", elapsed, block.kind)
        outcome = Outcome(decision, decision_id, call, block, self.lifecycle_json)
        if LOG.isEnabledFor(logging.DEBUG):
            LOG.debug(_log_line(outcome, number, customer, source_ip, call_id, elapsed))
        return outcome

    # -- reloading -------------------------------------------------------------------------
    @staticmethod
    def _stat_of(path: Path | None) -> tuple[int, int, int] | None:
        if path is None:
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _file_stat(self) -> tuple[int, int, int] | None:
        return self._stat_of(self.table_path)

    def changed(self) -> bool:
        """Whether the snapshot file differs from the one loaded last (replaced, rewritten);
        False while it is missing."""
        now = self._file_stat()
        return now is not None and now != self._stat

    def config_changed(self) -> bool:
        """Whether the routing config file differs from the one loaded last; False while it
        is missing and without one."""
        now = self._stat_of(self.config_path)
        return now is not None and now != self._config_stat

    def reload_config(self) -> bool:
        """Load the routing config file again and have the router follow it from the next
        decision on (the event loop's thread); False when it did not load (the config in
        use stays; logged) or there is none."""
        path = self.config_path
        if path is None:
            return False
        from tandem.lcr.policy import load_config

        stat = self._stat_of(path)
        try:
            config = load_config(path)
        except (TandemError, OSError) as exc:
            self._config_stat = stat
            LOG.error("routing config reload failed, keeping the config in use: %s", exc)
            return False
        self.router.reconfigure(config)
        self.sip_texts.clear()
        self._config_stat = stat
        LOG.info("routing config reloaded path=%s", path)
        return True

    def load_table(self) -> tuple[RoutingTable, tuple[int, int, int] | None]:
        """Load the snapshot file (safe to run in a worker thread): the table and the file's
        identity it was read from. Raises :class:`~tandem.errors.SnapshotError`."""
        before = self._file_stat()
        return RoutingTable.load(self.table_path, key=self.key), before

    def install(self, table: RoutingTable, stat: tuple[int, int, int] | None) -> None:
        """Swap ``table`` in (atomic; the event loop's thread)."""
        self.router.swap(table)
        self.sip_texts.clear()
        freeze_heap()
        self._stat = stat
        self.loaded_at = time.time()
        self.table_mtime = stat[2] / 1e9 if stat else self.loaded_at
        self.metrics.reloads["ok"] += 1
        LOG.info(
            "table reloaded path=%s prefixes=%d carriers=%d valid=%s",
            self.table_path, table.prefix_count, len(table.carriers), table.validity_text(),
        )  # fmt: skip

    def failed(self, exc: Exception) -> None:
        """A reload failed: the table in use stays; remember the file so that the same
        broken file is not retried until it changes again."""
        self._stat = self._file_stat()
        self.metrics.reloads["failed"] += 1
        LOG.error("table reload failed, keeping the table in use: %s", exc)

    def reload(self) -> bool:
        """Load and swap in one step (the caller's thread); False when the file did not load."""
        try:
            table, stat = self.load_table()
        except TandemError as exc:
            self.failed(exc)
            return False
        self.install(table, stat)
        return True


def _log_line(
    outcome: Outcome,
    number: str,
    customer: str | None,
    source_ip: str | None,
    call_id: str | None,
    elapsed: float,
) -> str:
    """``decision id=... number=... result=... routes=a,b code=... us=...`` (logfmt)."""
    d = outcome.decision
    parts = [f"decision id={outcome.decision_id}", f"number={_q(number)}"]
    if customer is not None:
        parts.append(f"customer={_q(customer)}")
    elif d is not None:
        parts.append(f"customer={_q(d.customer)}")
    if source_ip is not None:
        parts.append(f"source_ip={_q(source_ip)}")
    if call_id is not None:
        parts.append(f"call_id={_q(call_id)}")
    if outcome.block is None and d is not None:
        parts.append("result=routed")
        parts.append("routes=" + _q(",".join(r.carrier for r in d.routes)))
    else:
        block = outcome.block
        assert block is not None
        parts.append(f"result=blocked code={block.code} kind={block.kind}")
        parts.append(f"reason={_q(block.reason)}")
    parts.append(f"us={elapsed * 1e6:.0f}")
    return " ".join(parts)


def _q(text: str) -> str:
    """A logfmt value: bare when it has no space, quote or equals sign, else quoted."""
    if text and not any(c in text for c in ' "=\\') and text.isprintable():
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
