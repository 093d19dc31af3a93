"""The ENUM resolver: E.164 number → NAPTR → where the number lives, within a time budget.

RFC 6116 (ENUM): the number ``+442071234567`` (read by :func:`tandem.numbers.e164_digits`,
so ``+44 20 7123 4567`` and ``00442071234567`` are the same number) becomes the domain
``7.6.5.4.3.2.1.7.0.2.4.4.<suffix>`` (built with :func:`dns.e164.from_e164`), whose
NAPTR records (RFC 3403) say where the number lives. Suffixes are tried in order
(``e164.arpa.``, then private trees such as ``e164.example.net.``, per-customer trees);
the first suffix with a usable record answers. Records are filtered by enumservice
(``E2U+sip`` on-net, ``E2U+pstn:tel`` / ``E2U+pstn:sip`` number portability, RFC 4769),
ordered and substituted as :mod:`tandem.enum.naptr` describes, and the resulting URI is
read as :mod:`tandem.enum.teluri` describes.

Never stalling a call:

* every lookup has one time budget (default 50 ms) shared by every try, server and
  suffix; each UDP try gets ``remaining / tries left`` (so a black-holed first server
  leaves time for the second), a truncated (TC) answer is retried over TCP when time is
  left, and the lookup returns when the budget is spent;
* answers whose query id or question do not match are ignored and the try keeps
  listening (RFC 5452); garbage that does not parse as DNS ends the try as ``malformed``;
* each failure has its own :class:`~tandem.enum.types.LookupKind`: ``timeout``
  (nothing usable in time, including a TC answer with no time left for TCP),
  ``servfail`` (RCODE 2), ``malformed`` (unparseable answers, or only unusable records),
  ``error`` (REFUSED, NOTIMP, FORMERR, connection refused, bad input). When several
  tries fail differently the most specific wins: servfail, malformed, error, timeout;
* positive answers are cached for the NAPTR RRset's TTL, NXDOMAIN and NODATA for the
  RFC 2308 negative TTL (``min(SOA TTL, SOA MINIMUM)``), both caches LRU-bounded;
  failures are not cached;
* concurrent lookups of one number share one query (single-flight);
* :meth:`EnumResolver.lookup` never raises: every problem is a :class:`NumberInfo`.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import dns.e164
import dns.exception
import dns.flags
import dns.inet
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype

from tandem.enum.cache import SingleFlight, TtlCache
from tandem.enum.naptr import DEFAULT_SERVICES, Candidate, NaptrRecord, evaluate
from tandem.enum.teluri import parse_sip_tel_user, parse_tel_uri
from tandem.enum.types import LookupKind, NumberInfo
from tandem.errors import EnumLookupError, NumberError
from tandem.numbers import e164_digits

__all__ = [
    "EnumResolver",
    "EnumResult",
    "Server",
    "DEFAULT_SUFFIXES",
    "DEFAULT_BUDGET_MS",
    "MAX_BUDGET_MS",
]

DEFAULT_SUFFIXES: tuple[str, ...] = ("e164.arpa.",)
DEFAULT_BUDGET_MS = 50.0
#: The largest time budget a lookup may be given (one minute: a lookup is on a call's path).
MAX_BUDGET_MS = 60_000.0
_MIN_TRY = 0.0005  # seconds: a try with less time than this is not started
_MAX_CNAME_HOPS = 4
_FAILURE_RANK = {
    LookupKind.SERVFAIL: 4,
    LookupKind.MALFORMED: 3,
    LookupKind.ERROR: 2,
    LookupKind.TIMEOUT: 1,
}


@dataclass(frozen=True, slots=True)
class Server:
    """A DNS server to ask: an IPv4 or IPv6 address and a port."""

    host: str
    port: int = 53

    @classmethod
    def parse(cls, text: str) -> Server:
        """``HOST``, ``HOST:PORT``, ``[V6]:PORT`` or a bare IPv6 address."""
        text = text.strip()
        host, port = text, "53"
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            if rest.startswith(":"):
                port = rest[1:]
            elif rest:
                raise EnumLookupError(f"bad DNS server {text!r}: use HOST:PORT or [V6]:PORT")
        elif text.count(":") == 1:
            host, port = text.split(":")
        try:
            dns.inet.af_for_address(host)
        except ValueError:
            raise EnumLookupError(
                f"bad DNS server {text!r}: give an IP address (HOST:PORT), not a name"
            ) from None
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise EnumLookupError(f"bad DNS server {text!r}: port must be 1-65535")
        return cls(host, int(port))

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class EnumResult:
    """Everything one lookup found, for people and logs (the router only needs ``info``).

    ``candidates``: the E2U records of the answering domain in RFC 3403 order with what
    the selection made of each; ``chosen``: the record used; ``uri`` its URI; ``cache``:
    ``miss``, ``hit``, ``negative-hit`` or ``shared`` (answered by a concurrent lookup's
    query) or ``none`` (the number was invalid); ``domain``: the ENUM domain that
    answered (or the last one asked); ``server``: who answered; ``attempts``: one line
    per try.
    """

    info: NumberInfo
    candidates: tuple[Candidate, ...] = ()
    chosen: Candidate | None = None
    uri: str | None = None
    cache: str = "miss"
    domain: str | None = None
    server: str | None = None
    attempts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What one domain's query ended with."""

    status: str  # 'answer', 'nxdomain', 'nodata' or a failure LookupKind value
    records: tuple[NaptrRecord, ...] = ()
    ttl: float = 0.0
    server: str | None = None
    detail: str = ""


def _system_servers() -> list[Server]:
    try:
        import dns.resolver

        # Plain addresses only: the system's resolv.conf servers (not DoH/DoT objects).
        nameservers = dns.resolver.Resolver().nameservers
        return [Server(ns, 53) for ns in nameservers if isinstance(ns, str)]
    except Exception:  # noqa: BLE001 - no resolv.conf: fall back to loopback
        return [Server("127.0.0.1", 53)]


class EnumResolver:
    """ENUM / number portability lookups over DNS with a time budget (a NumberLookup).

    ``servers``: ``Server`` objects or ``"HOST:PORT"`` strings, asked in turn (default:
    the system's resolvers); ``suffixes``: ENUM trees tried in order; ``budget_ms``: the
    most one uncached lookup may take; ``attempts``: rounds over the server list;
    ``services``: enumservices accepted; ``cache_size`` / ``negative_cache_size``: LRU
    bounds; ``max_ttl`` / ``max_negative_ttl``: caps on cached TTLs (seconds; RFC 2308
    suggests at most 3 hours for negative answers); ``tcp``: retry truncated answers over
    TCP; ``edns_payload``: the EDNS(0) UDP size advertised (RFC 6891; 1232 octets, the
    DNS Flag Day 2020 value; None for plain 512-octet DNS). ``clock``: monotonic seconds
    (tests).
    """

    def __init__(
        self,
        servers: Iterable[Server | str] | None = None,
        suffixes: Iterable[str] = DEFAULT_SUFFIXES,
        *,
        budget_ms: float = DEFAULT_BUDGET_MS,
        attempts: int = 2,
        services: Sequence[str] = DEFAULT_SERVICES,
        cache_size: int = 100_000,
        negative_cache_size: int = 100_000,
        max_ttl: float = 86_400,
        max_negative_ttl: float = 10_800,
        tcp: bool = True,
        edns_payload: int | None = 1232,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        chosen = [s if isinstance(s, Server) else Server.parse(s) for s in (servers or [])]
        self.servers: tuple[Server, ...] = tuple(chosen or _system_servers())
        names = []
        for suffix in suffixes:
            try:
                names.append(dns.name.from_text(suffix))
            except dns.exception.DNSException as exc:
                raise EnumLookupError(f"bad ENUM suffix {suffix!r}: {exc}") from exc
        if not names:
            raise EnumLookupError("give at least one ENUM suffix (e.g. e164.arpa)")
        self.suffixes: tuple[dns.name.Name, ...] = tuple(names)
        _check_budget(budget_ms)
        if attempts < 1:
            raise EnumLookupError("attempts must be at least 1")
        self.budget = float(budget_ms) / 1000.0
        self.attempts = int(attempts)
        self.services = tuple(s.lower() for s in services)
        self.max_ttl = float(max_ttl)
        self.max_negative_ttl = float(max_negative_ttl)
        self.tcp = tcp
        self.edns_payload = edns_payload
        self._clock = clock
        self.positive: TtlCache[EnumResult] = TtlCache(cache_size, clock)
        self.negative: TtlCache[EnumResult] = TtlCache(negative_cache_size, clock)
        self._flight: SingleFlight[EnumResult] = SingleFlight()
        self._counts: dict[str, int] = {}
        self._counts_lock = threading.Lock()

    # -- public ---------------------------------------------------------------------
    def lookup(self, number: str) -> NumberInfo:
        """Where E.164 ``number`` (digits, ``+`` optional) lives. Never raises."""
        try:
            start = self._clock()
            digits = e164_digits(number)
            found = self.positive.get(digits) or self.negative.get(digits)
            if found is not None:  # the hot path: a cached answer, no allocation but one
                info = found[0].info
                return NumberInfo(
                    digits,
                    info.kind,
                    info.routing_number,
                    info.sip_uri,
                    info.npdi,
                    "cache",
                    (self._clock() - start) * 1000.0,
                    info.detail,
                )
        except Exception:  # noqa: BLE001 - resolve() reports it properly
            pass
        return self.resolve(number).info

    def resolve(self, number: str, *, use_cache: bool = True) -> EnumResult:
        """Like :meth:`lookup` with the NAPTR records, cache state and tries. Never raises."""
        start = self._clock()
        try:
            digits = e164_digits(number)
        except NumberError as exc:
            return EnumResult(
                NumberInfo(str(number), LookupKind.ERROR, detail=str(exc)), cache="none"
            )
        try:
            return self._resolve(digits, start, use_cache)
        except Exception as exc:  # noqa: BLE001 - the call path must never see an exception
            info = NumberInfo(
                digits,
                LookupKind.ERROR,
                elapsed_ms=self._ms(start),
                detail=f"ENUM lookup failed unexpectedly: {type(exc).__name__}: {exc}",
            )
            return EnumResult(info)

    def stats(self) -> dict[str, object]:
        """Counters for monitoring: cache sizes and hits (``positive``, ``negative``, as
        :class:`~tandem.enum.cache.CacheStats`), DNS queries by outcome kind
        (``queries``: ``{"on-net": 12, "timeout": 1, ...}``, one per number actually
        queried), ``shared`` (lookups answered by a concurrent lookup's query) and
        ``regexps_refused`` (NAPTR records skipped because their regexp was malformed or
        beyond what the linear-time engine runs: a steady count means a hostile or broken
        zone)."""
        with self._counts_lock:
            counts = dict(self._counts)
        shared = counts.pop("_shared", 0)
        refused = counts.pop("_regexps_refused", 0)
        return {
            "positive": self.positive.stats(),
            "negative": self.negative.stats(),
            "queries": counts,
            "shared": shared,
            "regexps_refused": refused,
        }

    def _count(self, key: str, n: int = 1) -> None:
        with self._counts_lock:
            self._counts[key] = self._counts.get(key, 0) + n

    def clear_cache(self) -> None:
        """Forget every cached answer."""
        self.positive.clear()
        self.negative.clear()

    # -- internals ------------------------------------------------------------------
    def _ms(self, start: float) -> float:
        return (self._clock() - start) * 1000.0

    def _resolve(self, digits: str, start: float, use_cache: bool) -> EnumResult:
        if use_cache:
            for cache, state in ((self.positive, "hit"), (self.negative, "negative-hit")):
                found = cache.get(digits)
                if found is not None:
                    hit, left = found
                    info = replace(
                        hit.info,
                        source="cache",
                        elapsed_ms=self._ms(start),
                        detail=f"{hit.info.detail} (cached, {left:.0f} s left)",
                    )
                    return replace(hit, info=info, cache=state)
        # Poll timeouts are rounded up to whole milliseconds and waking up costs a little:
        # the tries aim to end slightly before the budget so the lookup ends within it.
        deadline = start + self.budget - min(0.0015, self.budget * 0.1)
        result, shared = self._flight.do(
            digits,
            lambda: self._query_number(digits, deadline, use_cache),
            start + self.budget - self._clock(),  # a follower waits at most its own budget
        )
        if result is None:
            info = NumberInfo(
                digits,
                LookupKind.TIMEOUT,
                elapsed_ms=self._ms(start),
                detail="a concurrent lookup of this number did not finish within the budget",
            )
            return EnumResult(info, cache="shared")
        self._count("_shared" if shared else result.info.kind.value)
        info = replace(result.info, elapsed_ms=self._ms(start))
        return replace(result, info=info, cache="shared" if shared else "miss")

    def _query_number(self, digits: str, deadline: float, use_cache: bool) -> EnumResult:
        aus = "+" + digits
        failures: list[_Outcome] = []
        attempts: list[str] = []
        negative_ttl: float | None = None
        last_domain: str | None = None
        notes: list[str] = []
        for suffix in self.suffixes:
            domain = dns.e164.from_e164(aus, origin=suffix)
            last_domain = domain.to_text()
            outcome = self._query_domain(domain, deadline, attempts)
            if outcome.status == "answer":
                candidates = tuple(evaluate(outcome.records, aus, self.services, _check_uri))
                refused = sum(1 for c in candidates if c.regexp_refused)
                if refused:
                    self._count("_regexps_refused", refused)
                chosen = next((c for c in candidates if c.status == "chosen"), None)
                if chosen is not None:
                    info = self._interpret(digits, chosen, last_domain, outcome.server)
                    result = EnumResult(
                        info,
                        candidates,
                        chosen,
                        chosen.uri,
                        "miss",
                        last_domain,
                        outcome.server,
                        tuple(attempts),
                    )
                    if use_cache and not info.failed:
                        self.positive.put(digits, result, min(outcome.ttl, self.max_ttl))
                    return result
                malformed = [c for c in candidates if c.reason.startswith("malformed")]
                if malformed and len(malformed) == len(
                    [c for c in candidates if c.service is not None]
                ):
                    failures.append(
                        _Outcome(
                            LookupKind.MALFORMED.value,
                            server=outcome.server,
                            detail=f"{last_domain}: every matching NAPTR is malformed "
                            f"({malformed[0].reason})",
                        )
                    )
                    continue
                notes.append(f"{last_domain}: no usable E2U NAPTR")
                ttl = min(outcome.ttl, self.max_negative_ttl)
            elif outcome.status in ("nxdomain", "nodata"):
                notes.append(f"{last_domain}: {outcome.status.upper()}")
                ttl = min(outcome.ttl, self.max_negative_ttl)
            else:
                failures.append(outcome)
                continue
            negative_ttl = ttl if negative_ttl is None else min(negative_ttl, ttl)
        if failures:
            worst = max(failures, key=lambda o: _FAILURE_RANK[LookupKind(o.status)])
            detail = "; ".join(o.detail for o in failures)
            info = NumberInfo(digits, LookupKind(worst.status), detail=detail)
            return EnumResult(
                info, domain=last_domain, server=worst.server, attempts=tuple(attempts)
            )
        info = NumberInfo(digits, LookupKind.NOT_FOUND, detail="; ".join(notes))
        result = EnumResult(info, domain=last_domain, attempts=tuple(attempts))
        if use_cache and negative_ttl is not None:
            self.negative.put(digits, result, negative_ttl)
        return result

    def _interpret(
        self, digits: str, chosen: Candidate, domain: str, server: str | None
    ) -> NumberInfo:
        uri = chosen.uri or ""
        scheme = uri.split(":", 1)[0].lower()
        where = f"{domain} from {server}: {chosen.record.services} -> {uri}"
        pstn = _is_pstn(chosen.service)
        if scheme in ("sip", "sips") and not pstn:
            return NumberInfo(digits, LookupKind.ON_NET, sip_uri=uri, detail=where)
        try:
            tel = parse_tel_uri(uri) if scheme == "tel" else parse_sip_tel_user(uri)
        except EnumLookupError as exc:
            return NumberInfo(digits, LookupKind.MALFORMED, detail=f"{where}: {exc}")
        if tel.ported:
            return NumberInfo(
                digits, LookupKind.PORTED, routing_number=tel.rn, npdi=tel.npdi, detail=where
            )
        if tel.number != digits and tel.rn is None:
            where += f" (names +{tel.number} without rn: routing on the dialed number)"
        return NumberInfo(digits, LookupKind.NOT_PORTED, npdi=tel.npdi, detail=where)

    def _query_domain(self, domain: dns.name.Name, deadline: float, log: list[str]) -> _Outcome:
        """Ask for the NAPTRs of ``domain``, following in-answer CNAMEs and, when the
        server did not, CNAME targets (at most a few hops), all before ``deadline``."""
        qname = domain
        min_ttl: float | None = None
        for _ in range(_MAX_CNAME_HOPS):
            outcome, message = self._ask(qname, deadline, log)
            if message is None:
                return outcome
            try:
                chain = message.resolve_chaining()
            except dns.exception.DNSException as exc:
                return _Outcome(
                    LookupKind.MALFORMED.value,
                    server=outcome.server,
                    detail=f"{qname}: inconsistent answer from {outcome.server} ({exc!r})",
                )
            ttl = float(chain.minimum_ttl)
            min_ttl = ttl if min_ttl is None else min(min_ttl, ttl)
            if chain.answer is not None:
                records = tuple(NaptrRecord.from_rdata(rd, chain.answer.ttl) for rd in chain.answer)
                return _Outcome("answer", records, min_ttl, outcome.server)
            if message.rcode() == dns.rcode.NXDOMAIN:
                return _Outcome("nxdomain", ttl=min_ttl, server=outcome.server)
            if chain.cnames and chain.canonical_name != qname:
                # The answer ends in a CNAME whose target the server did not include.
                last = chain.canonical_name
                if not any(rr.name == last for rr in message.answer):
                    qname = last
                    continue
            return _Outcome("nodata", ttl=min_ttl, server=outcome.server)
        return _Outcome(
            LookupKind.MALFORMED.value, detail=f"{domain}: CNAME chain longer than 4 hops"
        )

    def _ask(
        self, qname: dns.name.Name, deadline: float, log: list[str]
    ) -> tuple[_Outcome, dns.message.QueryMessage | None]:
        """One question, tried over the servers until a definitive answer or the deadline."""
        plan = [s for _ in range(self.attempts) for s in self.servers]
        failures: list[_Outcome] = []
        for i, server in enumerate(plan):
            remaining = deadline - self._clock()
            if remaining < _MIN_TRY:
                break
            per_try = remaining / (len(plan) - i)
            if self.edns_payload:
                query = dns.message.make_query(
                    qname, dns.rdatatype.NAPTR, use_edns=0, payload=self.edns_payload
                )
            else:
                query = dns.message.make_query(qname, dns.rdatatype.NAPTR)
            outcome, message = self._try(query, server, per_try, deadline, log)
            if message is not None:
                return outcome, message
            failures.append(outcome)
        if not failures:
            failures.append(
                _Outcome(LookupKind.TIMEOUT.value, detail=f"{qname}: no time left in the budget")
            )
        worst = max(failures, key=lambda o: _FAILURE_RANK[LookupKind(o.status)])
        detail = "; ".join(dict.fromkeys(o.detail for o in failures))
        return replace(worst, detail=detail), None

    def _try(
        self,
        query: dns.message.QueryMessage,
        server: Server,
        timeout: float,
        deadline: float,
        log: list[str],
    ) -> tuple[_Outcome, dns.message.QueryMessage | None]:
        name = str(server)
        qname = query.question[0].name
        t0 = self._clock()
        try:
            response, ignored = _udp_exchange(query, server, time.time() + timeout)
        except dns.exception.Timeout:
            log.append(f"{name} udp: timeout after {(self._clock() - t0) * 1000:.1f} ms")
            return _fail(LookupKind.TIMEOUT, name, f"{qname}: {name} did not answer in time"), None
        except OSError as exc:
            log.append(f"{name} udp: {exc.strerror or exc}")
            return _fail(LookupKind.ERROR, name, f"{qname}: {name}: {exc.strerror or exc}"), None
        except Exception as exc:  # noqa: BLE001 - anything unparseable is a malformed answer
            log.append(f"{name} udp: malformed answer ({type(exc).__name__})")
            return _fail(
                LookupKind.MALFORMED, name, f"{qname}: {name} sent a malformed answer ({exc!r})"
            ), None
        note = f" ({ignored} mismatched answer(s) ignored)" if ignored else ""
        if response.flags & dns.flags.TC:
            left = deadline - self._clock()
            if not self.tcp or left < _MIN_TRY:
                log.append(f"{name} udp: truncated, no time left for TCP{note}")
                return _fail(
                    LookupKind.TIMEOUT,
                    name,
                    f"{qname}: {name} truncated the answer (TC) and the budget left no time "
                    "for TCP",
                ), None
            log.append(f"{name} udp: truncated, retrying over TCP{note}")
            t0 = self._clock()
            try:
                response = dns.query.tcp(query, server.host, timeout=left, port=server.port)
            except dns.exception.Timeout:
                log.append(f"{name} tcp: timeout after {(self._clock() - t0) * 1000:.1f} ms")
                return _fail(
                    LookupKind.TIMEOUT, name, f"{qname}: {name} did not answer over TCP in time"
                ), None
            except OSError as exc:
                log.append(f"{name} tcp: {exc.strerror or exc}")
                return _fail(
                    LookupKind.ERROR, name, f"{qname}: {name} over TCP: {exc.strerror or exc}"
                ), None
            except Exception as exc:  # noqa: BLE001
                log.append(f"{name} tcp: malformed answer ({type(exc).__name__})")
                return _fail(
                    LookupKind.MALFORMED,
                    name,
                    f"{qname}: {name} sent a malformed TCP answer ({exc!r})",
                ), None
            note = " over TCP"
        rcode = response.rcode()
        log.append(f"{name}: {dns.rcode.to_text(rcode)}{note}")
        if rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            return _Outcome("answer", server=name), response  # type: ignore[return-value]
        if rcode == dns.rcode.SERVFAIL:
            return _fail(LookupKind.SERVFAIL, name, f"{qname}: {name} answered SERVFAIL"), None
        return _fail(
            LookupKind.ERROR, name, f"{qname}: {name} answered {dns.rcode.to_text(rcode)}"
        ), None


def _check_budget(budget_ms: object) -> None:
    """Refuse a time budget that is not a finite number of milliseconds in
    ``(0, MAX_BUDGET_MS]`` (``inf`` would make every deadline unreachable, ``nan`` every
    comparison false)."""
    ok = (
        isinstance(budget_ms, int | float)
        and not isinstance(budget_ms, bool)
        and math.isfinite(budget_ms)
        and 0 < budget_ms <= MAX_BUDGET_MS
    )
    if not ok:
        raise EnumLookupError(
            f"the ENUM time budget must be a number of milliseconds above 0 and at most "
            f"{MAX_BUDGET_MS:.0f}, got {budget_ms!r}"
        )


def _is_pstn(service: str | None) -> bool:
    return (service or "").startswith("pstn")


def _check_uri(service: str, uri: str) -> None:
    """Reject (EnumLookupError) a URI the resolver could not act on: a tel URI, or the
    user part of an ``E2U+pstn:sip`` SIP URI, that is not a valid RFC 3966/4694 number."""
    scheme = uri.split(":", 1)[0].lower()
    if scheme == "tel":
        parse_tel_uri(uri)
    elif _is_pstn(service):
        parse_sip_tel_user(uri)


def _fail(kind: LookupKind, server: str, detail: str) -> _Outcome:
    return _Outcome(kind.value, server=server, detail=detail)


def _udp_exchange(
    query: dns.message.Message, server: Server, expiration: float
) -> tuple[dns.message.Message, int]:
    """Send ``query`` over UDP and wait until ``expiration`` (wall clock) for its answer.

    Built on dnspython's low-level ``dns.query.send_udp`` / ``receive_udp`` rather than
    ``dns.query.udp`` so that an answer with the wrong id or question is ignored (RFC
    5452: keep listening) while bytes that do not parse still end the try as malformed.
    The socket is connected, so an ICMP port-unreachable fails the try at once.
    Returns the response and how many mismatched answers were ignored.
    """
    af = dns.inet.af_for_address(server.host)
    destination = dns.inet.low_level_address_tuple((server.host, server.port), af)
    with dns.query.make_socket(af, socket.SOCK_DGRAM) as sock:
        sock.connect(destination)
        dns.query.send_udp(sock, query.to_wire(), destination, expiration)
        ignored = 0
        while True:
            response, _ = dns.query.receive_udp(
                sock, destination, expiration, ignore_trailing=False, raise_on_truncation=False
            )
            if query.is_response(response):
                return response, ignored
            ignored += 1
