"""Routing plans: how each customer's calls are spread over the carriers that quote them.

A :class:`RoutingConfig` is read from one TOML file (``data/routing.toml`` documents every
key): ``[defaults]`` plan keys for every customer, ``[carriers.NAME]`` (outbound trunk,
capacity, failover SIP codes) and ``[customers.NAME]`` (plan keys, plus ``translate``
rules and ``trunks`` by source IP).

Strategies (``strategy = ...``):

* ``least-cost`` (default): cheapest buy rate first (ties by carrier name);
* ``priority``: static ``priority`` (lower first; unlisted carriers last), then cost;
* ``weighted``: within each priority level, a weighted split (``weights``, e.g. 70/30),
  deterministic per call id (stable hash) so a retried call gets the same order;
  carriers without a weight follow, cheapest first;
* ``quality``: cost divided by the expected answer probability: the carrier's live ASR
  on the call's destination group when the router has a score source
  (``Router(..., scores=...)``, :mod:`tandem.lcr.scores`), else (or while its score is
  unknown) the static ``quality`` map (carrier -> probability in (0, 1]); a carrier with
  neither ranks after every carrier with one (an unknown score is never the best).
  Without a score source, unlisted carriers count as 1.

**Quality floors** (``floors``, with a score source): a carrier whose known live score on
the destination group is below the floor of the number's longest matching ``prefix``
(``min_asr`` and/or ``min_acd``, once it has ``min_attempts``) is dropped, and stays
dropped for ``cooldown`` seconds (a mark in shared state, so every node agrees); a
deterministic ``probe_share`` of calls (a hash of the call id) still goes to it so that it
can show it recovered. When the cooldown ends the live score is read again.

Every strategy then applies, in this order: ``blocked`` destination prefixes (the call is
refused), ``forced`` routes per prefix (listed carriers first; ``exclusive`` drops the
others), **margin protection** (a route whose buy rate is above the customer's sell rate
is dropped unless ``allow_loss`` and the loss per minute is at most ``max_loss``), carrier
capacity (``max_concurrent`` against a :class:`~tandem.state.Counters`), and at most
``max_routes`` routes.
"""

from __future__ import annotations

import hashlib
import math
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from tandem.errors import ConfigError, MoneyError
from tandem.instant import format_instant
from tandem.lcr.configkeys import refuse_unknown_keys
from tandem.lcr.scores import (
    CarrierLook,
    QualityConfig,
    Score,
    ScoreSource,
    quality_config_from_mapping,
)
from tandem.lcr.translate import DEFAULT_RULES, TranslationRules
from tandem.lcr.trunks import Trunk, TrunkTable
from tandem.money import SCALE, UNIT, format_money, parse_decimal, to_scaled

__all__ = [
    "STRATEGIES",
    "ForcedRoute",
    "Plan",
    "CarrierPolicy",
    "QualityFloor",
    "RoutingConfig",
    "load_config",
    "order_routes",
    "weighted_order",
]

STRATEGIES = ("least-cost", "priority", "weighted", "quality")
#: SIP responses after which the proxy should try the next route (RFC 3261 section 21).
DEFAULT_FAILOVER_CODES = (408, 480, 500, 502, 503, 504)
#: SIP responses after which the proxy should stop (the callee, not the carrier, said no).
DEFAULT_STOP_CODES = (403, 404, 484, 486, 600, 603, 604)
#: Priority of a carrier a ``priority`` plan does not list.
UNLISTED_PRIORITY = 1_000_000


@dataclass(frozen=True, slots=True)
class ForcedRoute:
    """Carriers forced (in this order) for numbers starting with ``prefix``."""

    prefix: str
    carriers: tuple[str, ...]
    exclusive: bool = False


@dataclass(frozen=True, slots=True)
class QualityFloor:
    """A quality floor for numbers starting with ``prefix`` ("" = every number): a carrier
    whose known live score on the call's destination group has an ASR below ``min_asr``
    or an ACD (seconds) below ``min_acd`` - once it has at least ``min_attempts`` attempts
    in the window - is dropped for ``cooldown`` seconds, but for ``probe_share`` of the
    calls (chosen by a stable hash of the call id)."""

    prefix: str = ""
    min_asr: Decimal | None = None
    min_acd: int | None = None
    min_attempts: int = 0
    cooldown: int = 600
    probe_share: Decimal = Decimal("0.05")
    #: The thresholds as floats, compared with the scores' floats on every decision.
    _asr: float = field(init=False, repr=False, compare=False)
    _share: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_asr", -1.0 if self.min_asr is None else float(self.min_asr))
        object.__setattr__(self, "_share", float(self.probe_share))

    def below(self, score: Score | None) -> str:
        """Why ``score`` is below this floor ("" when it is not, or is unknown)."""
        if score is None or not score.known or score.attempts < self.min_attempts:
            return ""
        asr = score.asr
        if asr is not None and asr < self._asr:
            return f"ASR {asr:.4f} below the floor {self.min_asr}"
        if self.min_acd is not None:
            if score.acd is None:
                return f"ACD unknown (no answered call) below the floor {self.min_acd} s"
            if score.acd < self.min_acd:
                return f"ACD {score.acd:.1f} s below the floor {self.min_acd} s"
        return ""


@dataclass(frozen=True)
class Plan:
    """One customer's routing plan (see the module docstring)."""

    strategy: str = "least-cost"
    max_routes: int = 5
    allow_loss: bool = False
    max_loss: int = 0  # scaled per-minute loss cap when allow_loss
    allow_on_net: bool = True
    blocked: tuple[str, ...] = ()
    forced: tuple[ForcedRoute, ...] = ()
    priority: Mapping[str, int] = field(default_factory=dict)
    weights: Mapping[str, int] = field(default_factory=dict)
    quality: Mapping[str, Decimal] = field(default_factory=dict)
    floors: tuple[QualityFloor, ...] = ()
    #: True for plain least cost without forced routes or quality floors (the router's
    #: fast path).
    simple: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "simple", self.strategy == "least-cost" and not self.forced and not self.floors
        )

    def floor_for(self, number: str) -> QualityFloor | None:
        """The quality floor with the longest prefix of ``number``, if any."""
        best: QualityFloor | None = None
        for fl in self.floors:
            if number.startswith(fl.prefix) and (best is None or len(fl.prefix) > len(best.prefix)):
                best = fl
        return best

    def forced_for(self, number: str) -> ForcedRoute | None:
        """The forced route with the longest prefix of ``number``, if any."""
        best: ForcedRoute | None = None
        for fr in self.forced:
            if number.startswith(fr.prefix) and (best is None or len(fr.prefix) > len(best.prefix)):
                best = fr
        return best

    def blocked_prefix(self, *numbers: str) -> str | None:
        """The blocked prefix that one of ``numbers`` starts with, if any."""
        if self.blocked:
            for number in numbers:
                if number and number.startswith(self.blocked):
                    return max((p for p in self.blocked if number.startswith(p)), key=len)
        return None


@dataclass(frozen=True, slots=True)
class CarrierPolicy:
    """How to reach one carrier: its outbound trunk, capacity and failover SIP codes."""

    name: str
    trunk: str
    max_concurrent: int | None = None
    failover_codes: tuple[int, ...] = DEFAULT_FAILOVER_CODES
    stop_codes: tuple[int, ...] = DEFAULT_STOP_CODES


@dataclass
class RoutingConfig:
    """Plans, carriers, translation rules, trunks and live-quality settings: the whole
    routing TOML."""

    defaults: Plan = field(default_factory=Plan)
    plans: dict[str, Plan] = field(default_factory=dict)
    carriers: dict[str, CarrierPolicy] = field(default_factory=dict)
    translations: dict[str, TranslationRules] = field(default_factory=dict)
    trunks: TrunkTable = field(default_factory=TrunkTable)
    quality: QualityConfig = field(default_factory=QualityConfig)
    source: str = ""

    @classmethod
    def single(cls, plan: Plan) -> RoutingConfig:
        """A config where every customer uses ``plan``."""
        return cls(defaults=plan)

    def plan_for(self, customer: str) -> Plan:
        """The customer's plan (the defaults when it has none of its own)."""
        return self.plans.get(customer, self.defaults)

    def carrier(self, name: str) -> CarrierPolicy:
        """The carrier's policy (trunk = its name, default SIP codes, when not configured)."""
        found = self.carriers.get(name)
        if found is None:
            found = CarrierPolicy(name=name, trunk=name)
            self.carriers[name] = found
        return found

    def rules_for(self, customer: str) -> TranslationRules:
        """The customer's translation rules (plain E.164 when it has none)."""
        return self.translations.get(customer, DEFAULT_RULES)

    def knows(self, customer: str) -> bool:
        """True when the config names ``customer``."""
        return customer in self.plans or customer in self.translations


# -- loading ------------------------------------------------------------------------------
_PLAN_KEYS = {
    "strategy",
    "max_routes",
    "allow_loss",
    "max_loss",
    "allow_on_net",
    "blocked",
    "forced",
    "priority",
    "weights",
    "quality",
    "floors",
}
_FLOOR_KEYS = ("prefix", "min_asr", "min_acd", "min_attempts", "cooldown", "probe_share")
_CARRIER_KEYS = {"trunk", "max_concurrent", "failover_codes", "stop_codes"}


def load_config(path: str | Path) -> RoutingConfig:
    """Read a routing TOML file; any mistake raises ConfigError naming the key."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read routing config {str(p)!r}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"routing config {str(p)!r} is not valid TOML: {exc}") from exc
    config = config_from_mapping(data)
    config.source = str(p)
    return config


def config_from_mapping(data: Mapping[str, Any]) -> RoutingConfig:
    """Build a :class:`RoutingConfig` from parsed TOML (see :func:`load_config`)."""
    unknown = set(data) - {"defaults", "carriers", "customers", "quality"}
    if unknown:
        raise ConfigError(
            f"unknown top-level table(s) {', '.join(sorted(unknown))}; "
            "allowed: defaults, carriers, customers, quality"
        )
    defaults = _plan(_table(data, "defaults"), Plan(), "defaults")
    config = RoutingConfig(defaults=defaults)
    if "quality" in data:
        config.quality = quality_config_from_mapping(_table(data, "quality"))
    for name, body in _table(data, "carriers").items():
        config.carriers[name] = _carrier(name, _table({name: body}, name, f"carriers.{name}"))
    for name, body in _table(data, "customers").items():
        where = f"customers.{name}"
        body = _table({name: body}, name, where)
        plan_keys = {k: v for k, v in body.items() if k not in ("translate", "trunks")}
        config.plans[name] = _plan(plan_keys, defaults, where)
        if "translate" in body:
            rules = _table(body, "translate", f"{where}.translate")
            config.translations[name] = TranslationRules.from_mapping(rules, f"{where}.translate")
        for trunk_name, trunk in _table(body, "trunks", f"{where}.trunks").items():
            tw = f"{where}.trunks.{trunk_name}"
            trunk = _table({trunk_name: trunk}, trunk_name, tw)
            if set(trunk) - {"ips"}:
                raise ConfigError(f"{tw}: only `ips` is allowed")
            ips = trunk.get("ips")
            if not isinstance(ips, list) or not ips or not all(isinstance(i, str) for i in ips):
                raise ConfigError(f"{tw}.ips must be a non-empty list of addresses/subnets")
            config.trunks.add(Trunk(trunk_name, name, tuple(ips)))
    return config


def _table(data: Mapping[str, Any], key: str, where: str | None = None) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where or key} must be a table")
    return value


def _plan(data: Mapping[str, Any], base: Plan, where: str) -> Plan:
    refuse_unknown_keys(data, _PLAN_KEYS, where, [*sorted(_PLAN_KEYS), "translate", "trunks"])
    kw: dict[str, Any] = {}
    if "strategy" in data:
        if data["strategy"] not in STRATEGIES:
            raise ConfigError(
                f"{where}.strategy must be one of {', '.join(STRATEGIES)}, got {data['strategy']!r}"
            )
        kw["strategy"] = data["strategy"]
    if "max_routes" in data:
        kw["max_routes"] = _int(data["max_routes"], f"{where}.max_routes", minimum=1)
    for flag in ("allow_loss", "allow_on_net"):
        if flag in data:
            if not isinstance(data[flag], bool):
                raise ConfigError(f"{where}.{flag} must be true or false")
            kw[flag] = data[flag]
    if "max_loss" in data:
        kw["max_loss"] = _money(data["max_loss"], f"{where}.max_loss")
    if "blocked" in data:
        kw["blocked"] = tuple(_digit_list(data["blocked"], f"{where}.blocked"))
    if "forced" in data:
        forced = []
        if not isinstance(data["forced"], list):
            raise ConfigError(f"{where}.forced must be an array of tables ([[...forced]])")
        for i, item in enumerate(data["forced"]):
            fw = f"{where}.forced[{i}]"
            if not isinstance(item, dict) or set(item) - {"prefix", "carriers", "exclusive"}:
                raise ConfigError(f"{fw} must have prefix, carriers and optional exclusive")
            prefix = _digit_list([item.get("prefix", "")], f"{fw}.prefix")[0]
            carriers = item.get("carriers")
            if not isinstance(carriers, list) or not carriers:
                raise ConfigError(f"{fw}.carriers must be a non-empty list of carrier names")
            exclusive = item.get("exclusive", False)
            if not isinstance(exclusive, bool):
                raise ConfigError(f"{fw}.exclusive must be true or false")
            forced.append(ForcedRoute(prefix, tuple(str(c) for c in carriers), exclusive))
        kw["forced"] = tuple(forced)
    if "priority" in data:
        kw["priority"] = {
            str(k): _int(v, f"{where}.priority.{k}", minimum=0)
            for k, v in _table(data, "priority", f"{where}.priority").items()
        }
    if "weights" in data:
        kw["weights"] = {
            str(k): _int(v, f"{where}.weights.{k}", minimum=0)
            for k, v in _table(data, "weights", f"{where}.weights").items()
        }
    if "quality" in data:
        quality = {}
        for k, v in _table(data, "quality", f"{where}.quality").items():
            try:
                p = parse_decimal(str(v), field=f"{where}.quality.{k}")
            except MoneyError as exc:
                raise ConfigError(str(exc)) from exc
            if not Decimal(0) < p <= Decimal(1):
                raise ConfigError(f"{where}.quality.{k} must be a probability in (0, 1]")
            quality[str(k)] = p
        kw["quality"] = quality
    if "floors" in data:
        kw["floors"] = _floors(data["floors"], f"{where}.floors")
    merged = {f.name: getattr(base, f.name) for f in fields(Plan) if f.init}
    merged.update(kw)
    plan = Plan(**merged)
    if plan.strategy == "weighted" and not plan.weights:
        raise ConfigError(f"{where}: strategy 'weighted' needs a `weights` table")
    return plan


def _floors(value: Any, where: str) -> tuple[QualityFloor, ...]:
    """The ``floors`` array of tables of a plan (see :class:`QualityFloor`)."""
    if not isinstance(value, list):
        raise ConfigError(f"{where} must be an array of tables ([[...floors]])")
    out: list[QualityFloor] = []
    seen: set[str] = set()
    for i, item in enumerate(value):
        fw = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{fw} must be a table")
        refuse_unknown_keys(item, _FLOOR_KEYS, fw, _FLOOR_KEYS)
        prefix = item.get("prefix", "")
        if prefix != "":
            prefix = _digit_list([prefix], f"{fw}.prefix")[0]
        if prefix in seen:
            raise ConfigError(f"{fw}.prefix {prefix!r} has a floor already")
        seen.add(prefix)
        min_asr = None
        if "min_asr" in item:
            min_asr = _ratio(item["min_asr"], f"{fw}.min_asr")
            if min_asr == 0:
                raise ConfigError(f"{fw}.min_asr must be above 0 (omit it for no ASR floor)")
        min_acd = None
        if "min_acd" in item:
            min_acd = _int(item["min_acd"], f"{fw}.min_acd", minimum=1)
        if min_asr is None and min_acd is None:
            raise ConfigError(f"{fw}: a floor needs min_asr and/or min_acd")
        share = _ratio(item.get("probe_share", "0.05"), f"{fw}.probe_share")
        if share >= 1:
            raise ConfigError(f"{fw}.probe_share must be below 1, got {share}")
        out.append(
            QualityFloor(
                prefix=prefix,
                min_asr=min_asr,
                min_acd=min_acd,
                min_attempts=_int(item.get("min_attempts", 0), f"{fw}.min_attempts", minimum=0),
                cooldown=_int(item.get("cooldown", 600), f"{fw}.cooldown", minimum=0),
                probe_share=share,
            )
        )
    return tuple(out)


def _ratio(value: Any, where: str) -> Decimal:
    """A ratio in [0, 1] written as a string or a TOML number."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(f'{where} must be a ratio from 0 to 1 (e.g. "0.25"), got {value!r}')
    try:
        p = parse_decimal(str(value), field=where)
    except MoneyError as exc:
        raise ConfigError(str(exc)) from exc
    if not Decimal(0) <= p <= Decimal(1):
        raise ConfigError(f"{where} must be a ratio from 0 to 1, got {value!r}")
    return p


def _carrier(name: str, data: Mapping[str, Any]) -> CarrierPolicy:
    where = f"carriers.{name}"
    refuse_unknown_keys(data, _CARRIER_KEYS, where, sorted(_CARRIER_KEYS))
    trunk = data.get("trunk", name)
    if not isinstance(trunk, str) or not trunk:
        raise ConfigError(f"{where}.trunk must be a non-empty string")
    cap = data.get("max_concurrent")
    if cap is not None:
        cap = _int(cap, f"{where}.max_concurrent", minimum=0)
    return CarrierPolicy(
        name=name,
        trunk=trunk,
        max_concurrent=cap,
        failover_codes=_codes(data.get("failover_codes"), DEFAULT_FAILOVER_CODES, where),
        stop_codes=_codes(data.get("stop_codes"), DEFAULT_STOP_CODES, where),
    )


def _codes(value: Any, default: tuple[int, ...], where: str) -> tuple[int, ...]:
    if value is None:
        return default
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 300 <= v <= 699 for v in value
    ):
        raise ConfigError(f"{where}: SIP codes must be a list of final responses 300-699")
    return tuple(value)


def _int(value: Any, where: str, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{where} must be a whole number >= {minimum}, got {value!r}")
    return value


def _money(value: Any, where: str) -> int:
    if isinstance(value, float):
        raise ConfigError(f'{where}: write money as a string ("0.0005"), not a TOML float')
    try:
        amount = to_scaled(parse_decimal(str(value), field=where), field=where)
    except MoneyError as exc:
        raise ConfigError(str(exc)) from exc
    if amount < 0:
        raise ConfigError(f"{where} must not be negative")
    return amount


def _digit_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(
        isinstance(v, str) and v.isascii() and v.isdigit() for v in value
    ):
        raise ConfigError(f"{where} must be a list of digit strings (prefixes)")
    return list(value)


# -- ordering ------------------------------------------------------------------------------
def _unit_hash(call_id: str, carrier: str) -> float:
    """A stable number in (0, 1) from (call id, carrier): same call id, same order."""
    h = hashlib.blake2b(f"{call_id}\x00{carrier}".encode(), digest_size=8).digest()
    return (int.from_bytes(h, "big") + 1) / (2**64 + 2)


def weighted_order(carriers: list[str], weights: Mapping[str, int], call_id: str) -> list[str]:
    """Order ``carriers`` by a weighted draw without replacement, seeded by ``call_id``.

    Efraimidis-Spirakis keys ``-ln(u) / weight``: the first carrier is ``c`` with
    probability ``weight[c] / sum(weights)``; the same call id always gives the same
    order (the hash is stable across processes). Carriers with weight 0 or none keep
    their given order after the weighted ones.
    """
    weighted = [c for c in carriers if weights.get(c, 0) > 0]
    rest = [c for c in carriers if weights.get(c, 0) <= 0]
    weighted.sort(key=lambda c: -math.log(_unit_hash(call_id, c)) / weights[c])
    return weighted + rest


#: A candidate route as the compiled table gives it: (buy rate scaled, carrier index, buy row).
Entry = tuple[int, int, int]


def order_routes(
    plan: Plan,
    entries: list[Entry],
    names: Sequence[str],
    number: str,
    call_id: str,
    scores: ScoreSource | None = None,
    at: float = 0.0,
    *,
    looks: Mapping[str, CarrierLook] | None = None,
    cool: Callable[..., float] | None = None,
) -> tuple[list[Entry], list[str], list[tuple[int, str]]]:
    """Order the candidates for ``number`` (cheapest first, as the table holds them) by
    ``plan``: its quality floor for the number drops carriers below it (with a score
    source), its forced route for the number comes first (an exclusive one drops the
    others), then the rest by the plan's strategy. ``names`` maps carrier indexes to
    names; ``call_id`` seeds the weighted split and the probe share; ``scores`` gives live
    quality at ``at``: read with its ``look`` now, or given as ``looks`` (carrier name ->
    look, read beforehand), and a cooldown is started with ``cool`` (default: its
    ``cool``). Returns ``(ordered, why, excluded)``: the entries in order, the
    reason of each place, and ``(carrier index, reason)`` for the carriers a quality floor
    or an exclusive forced route leaves out. Margin, capacity and max routes are the
    router's to apply (see :mod:`tandem.lcr.router`)."""
    excluded: list[tuple[int, str]] = []
    probes: dict[str, str] = {}
    if scores is not None and (plan.floors or plan.strategy == "quality"):
        dest = scores.group_of(number)
        if looks is None:
            listed = [names[e[1]] for e in entries]
            looks = dict(zip(listed, scores.look(listed, dest, at=at), strict=True))
        floor = plan.floor_for(number) if plan.floors else None
        if floor is not None:
            entries, dropped, probes = _apply_floor(
                floor, entries, names, looks, cool or scores.cool, dest, call_id, at
            )
            excluded.extend(dropped)
    forced = plan.forced_for(number)
    head: list[Entry] = []
    if forced is not None:
        by_name = {names[e[1]]: e for e in entries}
        for name in forced.carriers:
            if name in by_name:
                head.append(by_name.pop(name))
        kept = set(id(e) for e in head)
        tail = [e for e in entries if id(e) not in kept]
        if forced.exclusive:
            excluded = [
                (e[1], f"not in the exclusive forced route for prefix {forced.prefix}")
                for e in tail
            ]
            tail = []
        entries = tail
    s = plan.strategy
    if s == "least-cost":
        ordered = list(entries)
        why = [f"{s}: rank {i + 1} by buy rate" for i in range(len(ordered))]
    elif s == "priority":
        ordered = sorted(entries, key=lambda e: (_priority(plan, names[e[1]]), e[0]))
        why = [f"priority {_priority_text(plan, names[e[1]])}, then cost" for e in ordered]
    elif s == "quality" and looks is not None:
        ordered, why = _live_quality_order(plan, entries, names, looks)
    elif s == "quality":
        q = plan.quality

        def cost(e: Entry) -> Decimal:
            return Decimal(e[0]) / q.get(names[e[1]], Decimal(1))

        ordered = sorted(entries, key=lambda e: (cost(e), e[0]))
        why = [
            f"quality-adjusted cost {format_money(int(cost(e)))} "
            f"(rate / answer probability {q.get(names[e[1]], Decimal(1))})"
            for e in ordered
        ]
    else:  # weighted
        groups: dict[int, list[Entry]] = {}
        for e in entries:
            groups.setdefault(_priority(plan, names[e[1]]), []).append(e)
        ordered, why = [], []
        for prio in sorted(groups):
            group = groups[prio]
            by_name = {names[e[1]]: e for e in group}
            for name in weighted_order([names[e[1]] for e in group], plan.weights, call_id):
                ordered.append(by_name[name])
                w = plan.weights.get(name, 0)
                why.append(
                    f"weighted split: weight {w} of {sum(plan.weights.get(n, 0) for n in by_name)} "
                    f"at priority {_priority_text(plan, name)} (call id {call_id!r})"
                    if w
                    else "no weight: after the weighted carriers, by cost"
                )
    if forced is not None and head:
        why = [f"forced route for prefix {forced.prefix}" for _ in head] + why
        ordered = head + ordered
    if probes:
        why = [
            f"{w}; {probes[names[e[1]]]}" if names[e[1]] in probes else w
            for e, w in zip(ordered, why, strict=True)
        ]
    return ordered, why, excluded


def _apply_floor(
    floor: QualityFloor,
    entries: list[Entry],
    names: Sequence[str],
    looks: Mapping[str, CarrierLook],
    cool: Callable[..., float],
    group: str,
    call_id: str,
    at: float,
) -> tuple[list[Entry], list[tuple[int, str]], dict[str, str]]:
    """Apply a quality floor: ``(kept entries, dropped (carrier index, reason), probes)``
    where ``probes`` maps each carrier kept only as a probe call to the note saying so.

    A carrier cooling down is dropped until its cooldown ends; one that is not, but whose
    known score is below the floor, starts a cooldown (``cool``: :meth:`ScoreSource.cool`
    or its ``cool_later``) and is dropped. Either way a probe share of the calls keeps it:
    those whose stable hash of (call id, carrier) is below ``probe_share``."""
    kept: list[Entry] = []
    dropped: list[tuple[int, str]] = []
    probes: dict[str, str] = {}
    where = f"prefix {floor.prefix}" if floor.prefix else "every destination"
    fasr, min_acd, min_attempts = floor._asr, floor.min_acd, floor.min_attempts
    for e in entries:
        name = names[e[1]]
        look = looks[name]
        score = look.score
        below = (
            floor.below(score)
            if score is not None
            and score.known
            and score.attempts >= min_attempts
            and (
                (score.asr is not None and score.asr < fasr)
                or (min_acd is not None and (score.acd is None or score.acd < min_acd))
            )
            else ""
        )
        until = look.cooling_until
        if until is not None and until > at:
            reason = f"quality cooldown on group {group} until {_instant_text(int(until))}"
            reason += f" ({below})" if below else " (the score may have recovered: re-read then)"
        elif below:
            until = cool(name, group, seconds=floor.cooldown, at=at)
            assert look.score is not None
            reason = (
                f"quality floor of {where}: {below} on group {group} "
                f"({look.score.attempts} attempts)"
            )
            if until > at:
                reason += f"; cooling down until {_instant_text(int(until))}"
        else:
            kept.append(e)
            continue
        if floor._share > 0 and _unit_hash(call_id, "probe\x00" + name) < floor._share:
            kept.append(e)
            probes[name] = f"probe call (share {floor.probe_share}) despite: {reason}"
        else:
            dropped.append((e[1], reason))
    return kept, dropped, probes


def _scaled_text(amount: int) -> str:
    """A non-negative scaled amount as decimal text (exact, integer arithmetic; cheaper
    than :func:`~tandem.money.format_money` for the reasons of every candidate)."""
    units, frac = divmod(amount, UNIT)
    return f"{units}.{frac:0{SCALE}d}".rstrip("0").rstrip(".") if frac else str(units)


#: The end of a cooldown as text: the same few instants recur in many decisions' reasons.
_instant_text = lru_cache(maxsize=4096)(format_instant)


def _live_quality_order(
    plan: Plan, entries: list[Entry], names: Sequence[str], looks: Mapping[str, CarrierLook]
) -> tuple[list[Entry], list[str]]:
    """``strategy = "quality"`` with live scores: cost divided by the carrier's live ASR
    on the group when its score is known, else by its ``quality`` map entry; carriers with
    neither come after every carrier with a figure, by cost (an unknown is never the
    best). Ties by cost."""
    keyed: list[tuple[tuple[int, float, int], Entry, str]] = []
    for e in entries:
        name = names[e[1]]
        score = looks[name].score
        if score is not None and score.known and score.asr is not None:
            p = score.asr
            source = f"live ASR {p:.4f} over {score.attempts} attempts"
        elif name in plan.quality:
            p = float(plan.quality[name])
            source = f"answer probability {plan.quality[name]} from the plan: no known live score"
        else:
            why = (
                "no known live score and not in the quality map: after the scored carriers, by cost"
            )
            keyed.append(((1, float(e[0]), e[0]), e, why))
            continue
        cost = e[0] / p if p > 0 else math.inf
        shown = _scaled_text(int(cost)) if p > 0 else "infinite"
        keyed.append(((0, cost, e[0]), e, f"quality-adjusted cost {shown} (rate / {source})"))
    keyed.sort(key=lambda k: k[0])
    return [k[1] for k in keyed], [k[2] for k in keyed]


def _priority(plan: Plan, name: str) -> int:
    return plan.priority.get(name, UNLISTED_PRIORITY)


def _priority_text(plan: Plan, name: str) -> str:
    return str(plan.priority[name]) if name in plan.priority else "unlisted"
