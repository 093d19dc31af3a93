"""Tandem inside Kamailio: a KEMI routing script for ``app_python3``.

Kamailio's ``app_python3`` (with ``cfgengine "python"``) loads one Python file in the main
process and calls its ``mod_init()`` before forking; the object it returns is copied into
every SIP worker, which then gets ``child_init(rank)`` and one ``ksr_request_route(msg)``
per SIP request, on its own interpreter. Python threads do not run between requests
(``threads_mode=0``), so nothing here relies on a background thread.

* ``mod_init`` (main process) memory-maps the routing table once: the workers forked
  after it share its pages.
* ``child_init`` (each SIP worker) builds the worker's router and call lifecycle
  (:class:`~tandem.calls.Calls`) and opens its own Redis connection when one is
  configured (``TANDEM_REDIS``): sockets are never shared across the fork.
* ``ksr_request_route`` answers an INVITE. The customer comes from a header
  (``X-Tandem-Customer`` by default) or else from the source IP via the trunks of the
  routing config; the number is the Request-URI's user part. In ``redirect`` mode the
  answer is a ``302`` with one Contact per route, best first
  (:func:`tandem.serve.answer.contacts`); in ``rtjson`` mode the routes become Kamailio's
  rtjson document (:func:`tandem.serve.rtjson.rtjson`) and Kamailio relays the call
  itself, failing over in :meth:`TandemKemi.ksr_failure_route` on each carrier's own
  failover codes. A refused call gets 403/404/484/503 with a ``Reason`` header
  (:data:`tandem.serve.answer.BLOCK_CODES`), as from ``tandem serve sip``.
* The snapshot file is checked (one ``stat``) at most every ``TANDEM_RELOAD_INTERVAL``
  seconds, on the request path; a changed file is loaded and swapped in atomically
  (:meth:`~tandem.lcr.Router.swap`): the request being answered and every later one see
  one whole table, and no request waits for anything but the load itself. A file that
  fails to load is logged and the current table kept.

Configuration is read from the environment of the Kamailio process (see
:meth:`KamailioSettings.from_env`); ``examples/kamailio/`` holds the configs.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from typing import Any

from tandem.calls import Calls
from tandem.errors import ConfigError, TandemError
from tandem.lcr import Router, RoutingTable, load_config, load_key
from tandem.serve.answer import PHRASES, contacts, reason_header
from tandem.serve.metrics import Metrics
from tandem.serve.rtjson import rtjson
from tandem.serve.service import LOG, RouteService, freeze_heap

__all__ = ["KamailioSettings", "TandemKemi", "mod_init"]

MODES = ("redirect", "rtjson")
#: Failure route name given to ``t_on_failure`` in rtjson mode (a method of TandemKemi).
FAILURE_ROUTE = "ksr_failure_route"
REPLY_ROUTE = "ksr_reply_route_tandem"
# Transaction AVPs carrying the rtjson state from the request route to the failure route
# (which may run in another process).
_AVP_CARRIERS = "$avp(tandem_carriers)"
_AVP_CODES = "$avp(tandem_codes)"
_AVP_INDEX = "$avp(tandem_index)"
_UNKNOWN = object()
#: Source addresses remembered per worker (the memo is emptied when it is full).
_OWNERS_MAX = 65536


@dataclass(frozen=True)
class KamailioSettings:
    """How the Kamailio script routes.

    ``table``: the snapshot file (``tandem compile -o``); ``config``: a routing config TOML
    overriding the plan compiled into the table (its trunks identify customers by source
    IP); ``verify_key``: a key file, the table must be signed with it; ``mode``:
    ``redirect`` (302) or ``rtjson``; ``customer_header``: the header naming the customer
    ("" to identify by source IP only); ``reload_interval``: seconds between two checks of
    the snapshot file; ``redis``: a Redis URL for the shared counters (else each worker
    counts alone), ``redis_prefix`` their key prefix; ``fraud``: a fraud rules TOML.
    """

    table: str
    config: str | None = None
    verify_key: str | None = None
    mode: str = "redirect"
    customer_header: str = "X-Tandem-Customer"
    reload_interval: float = 1.0
    redis: str | None = None
    redis_prefix: str = "tandem:"
    fraud: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"TANDEM_MODE must be one of {', '.join(MODES)}, not {self.mode!r}")
        if not math.isfinite(self.reload_interval) or self.reload_interval < 0:
            raise ConfigError("TANDEM_RELOAD_INTERVAL must be 0 or more seconds")

    @classmethod
    def from_env(cls, environ: Any = None) -> KamailioSettings:
        """Settings from environment variables: ``TANDEM_TABLE`` (required),
        ``TANDEM_CONFIG``, ``TANDEM_VERIFY_KEY``, ``TANDEM_MODE``,
        ``TANDEM_CUSTOMER_HEADER``, ``TANDEM_RELOAD_INTERVAL``, ``TANDEM_REDIS``,
        ``TANDEM_REDIS_PREFIX``, ``TANDEM_FRAUD``."""
        env = os.environ if environ is None else environ
        table = env.get("TANDEM_TABLE", "")
        if not table:
            raise ConfigError("TANDEM_TABLE is not set: the routing table file to load")

        def number(name: str, default: str, kind: Any) -> Any:
            text = env.get(name, default)
            try:
                return kind(text)
            except ValueError:
                raise ConfigError(f"{name} must be a number, not {text!r}") from None

        return cls(
            table=table,
            config=env.get("TANDEM_CONFIG") or None,
            verify_key=env.get("TANDEM_VERIFY_KEY") or None,
            mode=env.get("TANDEM_MODE", "redirect") or "redirect",
            customer_header=env.get("TANDEM_CUSTOMER_HEADER", "X-Tandem-Customer"),
            reload_interval=number("TANDEM_RELOAD_INTERVAL", "1", float),
            redis=env.get("TANDEM_REDIS") or None,
            redis_prefix=env.get("TANDEM_REDIS_PREFIX", "tandem:") or "tandem:",
            fraud=env.get("TANDEM_FRAUD") or None,
        )


class _KamailioLog(logging.Handler):
    """The ``tandem.serve`` log lines (reloads, errors; decisions at DEBUG) into
    Kamailio's log."""

    def __init__(self, ksr: Any) -> None:
        super().__init__()
        self.ksr = ksr

    def emit(self, record: logging.LogRecord) -> None:
        text = f"tandem: {record.getMessage()}\n"
        if record.levelno >= logging.ERROR:
            self.ksr.err(text)
        elif record.levelno >= logging.WARNING:
            self.ksr.warn(text)
        elif record.levelno >= logging.INFO:
            self.ksr.info(text)
        else:
            self.ksr.dbg(text)


class TandemKemi:
    """The KEMI object app_python3 holds (see the module docstring). ``ksr`` is the
    ``KSR`` module Kamailio provides (given for tests; imported when None)."""

    def __init__(self, settings: KamailioSettings, ksr: Any = None) -> None:
        if ksr is None:
            import KSR  # type: ignore[import-not-found]  # provided by app_python3

            ksr = KSR
        self.ksr = ksr
        self.settings = settings
        if not any(isinstance(h, _KamailioLog) for h in LOG.handlers):
            LOG.addHandler(_KamailioLog(ksr))
            LOG.setLevel(logging.INFO)
        self.key = load_key(settings.verify_key) if settings.verify_key else None
        self.config = load_config(settings.config) if settings.config else None
        self.table = RoutingTable.load(settings.table, key=self.key)  # mapped once, shared
        self.service: RouteService | None = None
        self.calls: Calls | None = None
        self.rank: int | None = None
        self._next_check = 0.0
        self._owners: dict[str, str | None] = {}  # source IP -> customer (see _owner)
        self._owners_of: Any = None
        self._header_pv = f"$hdr({settings.customer_header})" if settings.customer_header else None
        freeze_heap()  # before the fork: no worker's collections walk (or copy) these objects

    # -- process start ------------------------------------------------------------------------
    def child_init(self, rank: int) -> int:
        """Per process after the fork: SIP workers (rank > 0) build their router, counters
        and lifecycle now; other processes (timers, RPC) on first use."""
        self.rank = rank
        if rank > 0:
            self._start()
        return 0

    def _start(self) -> RouteService:
        from tandem.state import FallbackCounters, MemoryCounters

        settings = self.settings
        counters: Any
        if settings.redis:
            from tandem.state import RedisCounters

            counters = FallbackCounters(RedisCounters(settings.redis, prefix=settings.redis_prefix))
        else:
            counters = MemoryCounters()
        fraud = None
        if settings.fraud:
            from tandem.fraud import FraudEngine, load_fraud_config

            fraud = FraudEngine(load_fraud_config(settings.fraud), counters)
        router = Router(self.table, plan=self.config, counters=counters)
        relay = settings.mode == "rtjson"
        # Redirect mode without fraud rules or shared state: the router alone (no end will
        # come back); otherwise the lifecycle, which keeps a relayed call until its end.
        calls = None
        if relay or fraud is not None or settings.redis:
            calls = Calls(router, counters=counters, fraud=fraud)
        self.calls = calls
        self.service = RouteService(
            router, settings.table, metrics=Metrics("kamailio"), calls=calls, key=self.key,
            keep_calls=relay,
        )  # fmt: skip
        self._next_check = time.time() + settings.reload_interval
        freeze_heap()
        return self.service

    # -- reload ---------------------------------------------------------------------------------
    def check_reload(self, now: float) -> bool:
        """Load the snapshot again if its file changed (at most one ``stat`` per
        ``reload_interval``); True when a new table was swapped in. A file that does not
        load is logged and the table in use kept (and the same file not retried)."""
        service = self.service
        if service is None or now < self._next_check:
            return False
        self._next_check = now + self.settings.reload_interval
        if not service.changed():
            return False
        done = service.reload()
        if done:
            self.table = service.router.table
        return done

    # -- routing --------------------------------------------------------------------------------
    def ksr_request_route(self, msg: Any) -> int:
        """request_route: INVITEs are routed; OPTIONS answered 200 (health checks); in
        rtjson mode in-dialog requests and CANCELs are relayed and a BYE ends the call."""
        ksr = self.ksr
        method = ksr.pv.get("$rm")
        if method == "INVITE" and ksr.pv.get("$tt") is None:
            return self.route_invite()
        if method == "OPTIONS" and ksr.pv.get("$rU") is None:
            ksr.sl.send_reply(200, "OK")
            return 1
        if self.settings.mode == "redirect":
            if method != "ACK":  # the ACK of our 302 is absorbed by sl
                ksr.sl.send_reply(481 if method == "INVITE" else 405, "Not Here")
            return 1
        return self._relay_in_dialog(method)

    def route_invite(self) -> int:
        """Decide an initial INVITE and answer it (redirect) or relay it (rtjson)."""
        ksr = self.ksr
        service = self.service if self.service is not None else self._start()
        now = time.time()
        if now >= self._next_check:
            self.check_reload(now)
        pv = ksr.pv.get
        customer = pv(self._header_pv) if self._header_pv is not None else None
        source_ip = None
        if not customer:
            source_ip = pv("$si")
            if service.calls is None:  # the router alone: name the trunk's customer
                customer = self._owner(source_ip)
                if customer is not None:
                    source_ip = None
        outcome = service.decide(
            pv("$rU") or "",
            customer=customer or None,
            source_ip=source_ip,
            at=int(now),
            call_id=pv("$ci"),
        )
        block = outcome.block
        if block is not None:
            return self._refuse(block.code, block.phrase, block.reason)
        decision = outcome.decision
        assert decision is not None
        if self.settings.mode == "redirect":
            found = contacts(decision, outcome.decision_id)
            ksr.hdr.append_to_reply("".join(f"Contact: {c}\r\n" for c in found))
            ksr.sl.send_reply(302, "Moved Temporarily")
            return 1
        return self._relay(outcome, int(now))

    def _owner(self, source_ip: str) -> str | None:
        """The customer whose trunk ``source_ip`` belongs to, remembered per address for the
        routing config in use (None: no trunk has it; the router then says why). Naming
        the customer lets the router take its express path; the routes are the same."""
        service = self.service
        assert service is not None
        config = service.router.config
        if self._owners_of is not config:
            self._owners = {}
            self._owners_of = config
        owners = self._owners
        owner = owners.get(source_ip, _UNKNOWN)
        if owner is _UNKNOWN:
            try:
                owner = config.trunks.identify(source_ip).customer
            except TandemError:
                owner = None
            if len(owners) >= _OWNERS_MAX:
                owners.clear()
            owners[source_ip] = owner
        return owner  # type: ignore[return-value]

    def _refuse(self, code: int, phrase: str, reason: str) -> int:
        ksr = self.ksr
        ksr.hdr.append_to_reply(f"Reason: {reason_header(code, reason)}\r\n")
        ksr.sl.send_reply(code, phrase)
        return 1

    # -- rtjson: Kamailio forks and fails over ------------------------------------------------
    def _relay(self, outcome: Any, at: int) -> int:
        ksr = self.ksr
        call = outcome.call
        routes = outcome.decision.routes
        refused = call.admit(at=at)
        if refused is not None:
            call.end(at=at)
            reason = f"concurrent-call limit reached ({refused})"
            return self._refuse(503, PHRASES[503], reason)
        if not call.attempt(routes[0].carrier, at=at):
            call.end(at=at)
            reason = f"carrier {routes[0].carrier} at its concurrent-call limit"
            return self._refuse(503, PHRASES[503], reason)
        pv = ksr.pv
        pv.sets(_AVP_CARRIERS, ",".join(r.carrier for r in routes))
        pv.sets(_AVP_CODES, "|".join(",".join(map(str, r.failover_codes)) for r in routes))
        pv.seti(_AVP_INDEX, 0)
        ksr.rtjson.init_routes(json.dumps(rtjson(outcome.decision, outcome.decision_id)))
        ksr.rtjson.push_routes()
        ksr.rr.record_route()
        ksr.tm.t_on_failure(FAILURE_ROUTE)
        ksr.tm.t_on_reply(REPLY_ROUTE)
        if ksr.tm.t_relay() < 0:
            call.end(at=at)
            ksr.sl.sl_reply_error()
        return 1

    def ksr_failure_route(self, msg: Any) -> int:
        """failure_route of an rtjson call: the next route when the answer is one of the
        failed carrier's failover codes, else the call ends with that answer."""
        ksr = self.ksr
        if self.service is None:
            self._start()
        calls = self.calls
        assert calls is not None
        pv = ksr.pv
        call_id = pv.get("$ci")
        at = time.time()
        if ksr.tm.t_is_canceled() > 0:
            calls.end(call_id, at=at)
            return 1
        carriers = (pv.get(_AVP_CARRIERS) or "").split(",")
        codes = (pv.get(_AVP_CODES) or "").split("|")
        index = pv.get(_AVP_INDEX) or 0
        call = calls.get(call_id)
        code = int(ksr.tm.t_get_status_code())
        if call is not None and index < len(carriers):
            call.failed(carriers[index], code, at=at)
        failover = index < len(codes) and str(code) in codes[index].split(",")
        while failover and index + 1 < len(carriers):
            if ksr.rtjson.next_route() < 0:
                break
            index += 1
            pv.seti(_AVP_INDEX, index)
            if call is not None and not call.attempt(carriers[index], at=at):
                continue  # that carrier is at its limit: the one after it
            ksr.tm.t_on_failure(FAILURE_ROUTE)
            ksr.tm.t_on_reply(REPLY_ROUTE)
            ksr.tm.t_relay()
            return 1
        calls.end(call_id, at=at)
        return 1

    def ksr_reply_route(self, msg: Any) -> int:
        """reply_route (every reply Kamailio receives): nothing to do, let it pass."""
        return 1

    def ksr_onsend_route(self, msg: Any) -> int:
        """onsend_route (every request Kamailio sends): nothing to do."""
        return 1

    def ksr_reply_route_tandem(self, msg: Any) -> int:
        """onreply_route of an rtjson call: a 2xx marks the answer."""
        ksr = self.ksr
        status = ksr.pv.get("$rs")
        if status is not None and 200 <= int(status) < 300 and self.calls is not None:
            call = self.calls.get(ksr.pv.get("$ci"))
            if call is not None and call.answered_by is None:
                index = ksr.pv.get(_AVP_INDEX) or 0
                carriers = (ksr.pv.get(_AVP_CARRIERS) or "").split(",")
                if index < len(carriers):
                    call.answered(carriers[index], at=time.time())
        return 1

    def _relay_in_dialog(self, method: str) -> int:
        ksr = self.ksr
        if method == "CANCEL":
            if ksr.tm.t_check_trans() > 0:
                ksr.tm.t_relay()
            return 1
        if ksr.pv.get("$tt") is not None:  # in dialog
            if ksr.rr.loose_route() > 0:
                if method == "BYE" and self.calls is not None:
                    self.calls.end(ksr.pv.get("$ci"), at=time.time())
                ksr.tm.t_relay()
                return 1
            if method == "ACK" and ksr.tm.t_check_trans() > 0:
                ksr.tm.t_relay()
                return 1
            ksr.sl.send_reply(404, "Not Here")
            return 1
        if method == "ACK":
            return 1
        ksr.sl.send_reply(405, "Method Not Allowed")
        return 1


def mod_init() -> TandemKemi | None:
    """app_python3's entry point (main process, before the fork): the KEMI object, with
    the settings of :meth:`KamailioSettings.from_env`. A bad setting or a table that does
    not load is one ``tandem: cannot start: ...`` line in Kamailio's log, and Kamailio
    does not start (None is no routing object)."""
    import KSR  # provided by app_python3

    try:
        return TandemKemi(KamailioSettings.from_env(), KSR)
    except TandemError as exc:
        KSR.err(f"tandem: cannot start: {exc}\n")
        return None
