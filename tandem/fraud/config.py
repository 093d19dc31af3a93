"""The fraud rules as data: ``data/fraud.toml`` read into a :class:`FraudConfig`.

Every key is documented in ``data/fraud.toml``. Unknown keys, wrong types and impossible
thresholds (a critical level below the warning level, a window that is not a whole number
of steps, a negative count...) are refused with a :class:`tandem.errors.ConfigError` naming
the key. A ``[customers.NAME]`` table overrides, for that customer only, a rule's
``enabled`` flag and thresholds (never its windows: every node and every customer counts in
the same buckets) and adds ``high_risk_allow`` / ``high_risk_deny`` prefixes.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from tandem.errors import ConfigError, MoneyError
from tandem.fraud.thresholds import Thresholds
from tandem.money import to_scaled

__all__ = [
    "ConcurrentRule",
    "CpsRule",
    "CustomerOverride",
    "FirstCallRule",
    "FraudConfig",
    "HighRiskRule",
    "LongCallRule",
    "RuleSet",
    "SequentialRule",
    "SpendRule",
    "VelocityRule",
    "WangiriRule",
    "fraud_config_from_mapping",
    "load_fraud_config",
]

Fail = Literal["open", "closed"]


@dataclass(frozen=True)
class HighRiskRule:
    """Calls to high-risk destinations (premium rate, shared cost, satellite networks...)."""

    enabled: bool = True
    action: Literal["flag", "block"] = "block"
    prefixes: tuple[str, ...] = ()
    file: Path | None = None


@dataclass(frozen=True)
class ConcurrentRule:
    """Calls in progress per customer, customer trunk and destination group."""

    enabled: bool = True
    fail: Fail = "open"
    customer: Thresholds = Thresholds()
    trunk: Thresholds = Thresholds()
    group: Thresholds = Thresholds()
    ttl: int = 7200
    group_prefix_length: int = 3


@dataclass(frozen=True)
class CpsRule:
    """Call attempts per second (per ``window``) per customer and per source IP."""

    enabled: bool = True
    fail: Fail = "open"
    window: int = 1
    step: int = 1
    customer: Thresholds = Thresholds()
    source_ip: Thresholds = Thresholds()


@dataclass(frozen=True)
class SpendRule:
    """Money spent (at the customer's sell rates) per hour and per day: scaled integers."""

    enabled: bool = True
    fail: Fail = "open"
    hour: Thresholds = Thresholds()
    day: Thresholds = Thresholds()
    hour_step: int = 60
    day_step: int = 900


@dataclass(frozen=True)
class VelocityRule:
    """Calls to a destination prefix in ``window`` far above its own baseline."""

    enabled: bool = True
    fail: Fail = "open"
    prefix_length: int = 6
    window: int = 600
    step: int = 60
    baseline: int = 86400
    min_calls: int = 20
    min_baseline: int = 0
    factors: Thresholds = Thresholds()


@dataclass(frozen=True)
class SequentialRule:
    """Calls from one customer to one number, or to one block of consecutive numbers."""

    enabled: bool = True
    fail: Fail = "open"
    window: int = 600
    step: int = 60
    block_digits: int = 2
    same_number: Thresholds = Thresholds()
    block: Thresholds = Thresholds()


@dataclass(frozen=True)
class WangiriRule:
    """Short calls from one customer into one range of numbers."""

    enabled: bool = True
    fail: Fail = "open"
    prefix_length: int = 7
    short: int = 5
    window: int = 3600
    step: int = 60
    calls: Thresholds = Thresholds()


@dataclass(frozen=True)
class FirstCallRule:
    """A customer's first call to a destination in ``remember`` seconds, at a high rate."""

    enabled: bool = True
    fail: Fail = "open"
    prefix_length: int = 5
    remember: int = 30 * 86400
    step: int = 86400
    rate: int | None = None  # never fires until a rate is set


@dataclass(frozen=True)
class LongCallRule:
    """A call to a high-risk destination running past ``minutes``."""

    enabled: bool = True
    minutes: int = 60


@dataclass(frozen=True)
class RuleSet:
    """Every rule as one customer sees it (defaults with that customer's overrides)."""

    high_risk: HighRiskRule = HighRiskRule()
    concurrent: ConcurrentRule = ConcurrentRule()
    cps: CpsRule = CpsRule()
    spend: SpendRule = SpendRule()
    velocity: VelocityRule = VelocityRule()
    sequential: SequentialRule = SequentialRule()
    wangiri: WangiriRule = WangiriRule()
    first_call: FirstCallRule = FirstCallRule()
    long_call: LongCallRule = LongCallRule()


#: Rule names, in the order the engine evaluates them and verdicts are listed.
RULES = tuple(f.name for f in fields(RuleSet))


@dataclass(frozen=True)
class CustomerOverride:
    """A customer's own high-risk allow/deny prefixes and rules."""

    rules: RuleSet
    high_risk_allow: tuple[str, ...] = ()
    high_risk_deny: tuple[str, ...] = ()


@dataclass
class FraudConfig:
    """The fraud rules for every customer, and how a scan merges alerts into episodes."""

    rules: RuleSet = field(default_factory=RuleSet)
    customers: dict[str, CustomerOverride] = field(default_factory=dict)
    episode_gap: int = 300
    source: str | None = None

    def rules_for(self, customer: str) -> RuleSet:
        """The rules as ``customer`` sees them."""
        own = self.customers.get(customer)
        return own.rules if own is not None else self.rules


# -- the TOML reader ------------------------------------------------------------------------

_THRESHOLD_KEYS = {"warning", "critical"}
# For each rule: its scalar keys (name -> kind), its thresholds tables (name -> kind), and
# which of them a customer may override.
_KINDS: dict[str, tuple[dict[str, str], dict[str, str], set[str]]] = {
    "high_risk": (
        {"enabled": "bool", "action": "action", "prefixes": "prefixes", "file": "path"},
        {},
        {"enabled", "action"},
    ),
    "concurrent": (
        {"enabled": "bool", "fail": "fail", "ttl": "pos", "group_prefix_length": "pos"},
        {"customer": "count", "trunk": "count", "group": "count"},
        {"enabled", "fail", "customer", "trunk", "group"},
    ),
    "cps": (
        {"enabled": "bool", "fail": "fail", "window": "pos", "step": "pos"},
        {"customer": "count", "source_ip": "count"},
        {"enabled", "fail", "customer", "source_ip"},
    ),
    "spend": (
        {"enabled": "bool", "fail": "fail", "hour_step": "pos", "day_step": "pos"},
        {"hour": "money", "day": "money"},
        {"enabled", "fail", "hour", "day"},
    ),
    "velocity": (
        {
            "enabled": "bool",
            "fail": "fail",
            "prefix_length": "pos",
            "window": "pos",
            "step": "pos",
            "baseline": "pos",
            "min_calls": "count",
            "min_baseline": "count",
        },
        {"factors": "factor"},
        {"enabled", "fail"},
    ),
    "sequential": (
        {
            "enabled": "bool",
            "fail": "fail",
            "window": "pos",
            "step": "pos",
            "block_digits": "pos",
        },
        {"same_number": "count", "block": "count"},
        {"enabled", "fail", "same_number", "block"},
    ),
    "wangiri": (
        {
            "enabled": "bool",
            "fail": "fail",
            "prefix_length": "pos",
            "short": "count",
            "window": "pos",
            "step": "pos",
        },
        {"calls": "count"},
        {"enabled", "fail", "calls"},
    ),
    "first_call": (
        {
            "enabled": "bool",
            "fail": "fail",
            "prefix_length": "pos",
            "remember": "pos",
            "step": "pos",
            "rate": "money",
        },
        {},
        {"enabled", "fail", "rate"},
    ),
    "long_call": ({"enabled": "bool", "minutes": "pos"}, {}, {"enabled", "minutes"}),
}
_TOP = {"scan", "customers", *RULES}


def load_fraud_config(path: str | os.PathLike[str]) -> FraudConfig:
    """Read a fraud rules TOML file; any mistake raises ConfigError naming the key.

    A relative ``high_risk.file`` is read relative to the TOML file's directory.
    """
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read fraud rules {str(p)!r}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"fraud rules {str(p)!r} are not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"fraud rules {str(p)!r} are not UTF-8 text") from None
    config = fraud_config_from_mapping(data, base_dir=p.parent)
    config.source = str(p)
    return config


def fraud_config_from_mapping(
    data: Mapping[str, Any], *, base_dir: str | os.PathLike[str] | None = None
) -> FraudConfig:
    """Build a :class:`FraudConfig` from parsed TOML (a mapping); ConfigError naming the
    key on any mistake. ``base_dir`` resolves a relative ``high_risk.file``."""
    if not isinstance(data, Mapping):
        raise ConfigError("fraud rules must be a table")
    unknown = sorted(str(k) for k in data if k not in _TOP)
    if unknown:
        raise ConfigError(
            f"unknown key(s) in fraud rules: {', '.join(unknown)} "
            f"(known: {', '.join(sorted(_TOP))})"
        )
    base = Path(base_dir) if base_dir is not None else None
    rules = RuleSet(
        **{
            name: _rule(name, _table(data, name, name), getattr(RuleSet(), name), name, base)
            for name in RULES
        }
    )
    _check_rules(rules)
    episode_gap = 300
    if "scan" in data:
        scan = _table(data, "scan", "scan")
        _only(scan, {"episode_gap"}, "scan")
        if "episode_gap" in scan:
            episode_gap = _int(scan["episode_gap"], "scan.episode_gap", 0)
    customers: dict[str, CustomerOverride] = {}
    for name, table in _table(data, "customers", "customers").items():
        where = f"customers.{name}"
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where} must be a table")
        customers[str(name)] = _customer(table, rules, where)
    return FraudConfig(rules=rules, customers=customers, episode_gap=episode_gap)


def _customer(table: Mapping[str, Any], rules: RuleSet, where: str) -> CustomerOverride:
    allowed = {"high_risk_allow", "high_risk_deny", *RULES}
    _only(table, allowed, where)
    own: dict[str, Any] = {}
    for name in RULES:
        if name not in table:
            continue
        sub = _table(table, name, f"{where}.{name}")
        overridable = _KINDS[name][2]
        bad = sorted(str(k) for k in sub if k not in overridable)
        if bad:
            shared = set(_KINDS[name][0]) | set(_KINDS[name][1])
            why = (
                "a customer overrides only enabled, fail and thresholds, not windows"
                if all(b in shared for b in bad)
                else "unknown key"
            )
            raise ConfigError(f"{where}.{name}.{bad[0]}: {why}")
        own[name] = _rule(name, sub, getattr(rules, name), f"{where}.{name}", None)
    merged = replace(rules, **own)
    _check_rules(merged, where)
    return CustomerOverride(
        rules=merged,
        high_risk_allow=tuple(
            _prefixes(table.get("high_risk_allow", []), f"{where}.high_risk_allow")
        ),
        high_risk_deny=tuple(_prefixes(table.get("high_risk_deny", []), f"{where}.high_risk_deny")),
    )


def _rule(name: str, table: Mapping[str, Any], base: Any, where: str, base_dir: Path | None) -> Any:
    scalars, tables, _ = _KINDS[name]
    _only(table, set(scalars) | set(tables), where)
    values: dict[str, Any] = {}
    for key, value in table.items():
        kw = f"{where}.{key}"
        if key in tables:
            values[key] = _thresholds(value, tables[key], kw)
            continue
        kind = scalars[key]
        if kind == "bool":
            if not isinstance(value, bool):
                raise ConfigError(f"{kw} must be true or false, got {value!r}")
            values[key] = value
        elif kind == "fail":
            if value not in ("open", "closed"):
                raise ConfigError(f'{kw} must be "open" or "closed", got {value!r}')
            values[key] = value
        elif kind == "action":
            if value not in ("flag", "block"):
                raise ConfigError(f'{kw} must be "flag" or "block", got {value!r}')
            values[key] = value
        elif kind == "pos":
            values[key] = _int(value, kw, 1)
        elif kind == "count":
            values[key] = _int(value, kw, 0)
        elif kind == "money":
            values[key] = _money(value, kw)
        elif kind == "prefixes":
            values[key] = tuple(_prefixes(value, kw))
        elif kind == "path":
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{kw} must be a file name (a string)")
            p = Path(value)
            values[key] = base_dir / p if base_dir is not None and not p.is_absolute() else p
    return replace(base, **values)


def _check_rules(rules: RuleSet, where: str = "") -> None:
    """Impossible combinations: windows that are not whole numbers of steps..."""
    w = f"{where}." if where else ""
    for key, window, step in (
        ("cps.window", rules.cps.window, rules.cps.step),
        ("velocity.window", rules.velocity.window, rules.velocity.step),
        ("sequential.window", rules.sequential.window, rules.sequential.step),
        ("wangiri.window", rules.wangiri.window, rules.wangiri.step),
        ("first_call.remember", rules.first_call.remember, rules.first_call.step),
        ("spend.hour_step", 3600, rules.spend.hour_step),
        ("spend.day_step", 86400, rules.spend.day_step),
    ):
        if window % step:
            raise ConfigError(
                f"{w}{key}: the window ({window} s) must be a whole number of steps ({step} s)"
            )
    v = rules.velocity
    if v.baseline % v.window or v.baseline < 2 * v.window:
        raise ConfigError(
            f"{w}velocity.baseline must be a multiple of velocity.window ({v.window} s) and at "
            f"least twice it, got {v.baseline}"
        )
    if v.baseline % v.step:
        raise ConfigError(f"{w}velocity.baseline must be a whole number of steps ({v.step} s)")
    if rules.sequential.block_digits > 14:
        raise ConfigError(f"{w}sequential.block_digits must be at most 14")
    for name, length in (
        ("velocity.prefix_length", v.prefix_length),
        ("wangiri.prefix_length", rules.wangiri.prefix_length),
        ("first_call.prefix_length", rules.first_call.prefix_length),
        ("concurrent.group_prefix_length", rules.concurrent.group_prefix_length),
    ):
        if length > 15:
            raise ConfigError(f"{w}{name} must be at most 15 (an E.164 number's length)")


def _thresholds(value: Any, kind: str, where: str) -> Thresholds:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a table like {{ warning = ..., critical = ... }}")
    _only(value, _THRESHOLD_KEYS, where)
    levels: dict[str, int | float | None] = {}
    for level in ("warning", "critical"):
        if level not in value:
            levels[level] = None
            continue
        lw = f"{where}.{level}"
        raw = value[level]
        if kind == "money":
            levels[level] = _money(raw, lw)
        elif kind == "factor":
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise ConfigError(f"{lw} must be a number (a factor), got {raw!r}")
            if not math.isfinite(raw) or raw < 1:
                raise ConfigError(f"{lw} must be a factor of at least 1, got {raw!r}")
            levels[level] = float(raw)
        else:
            levels[level] = _int(raw, lw, 0)
    warning, critical = levels["warning"], levels["critical"]
    if warning is not None and critical is not None and critical < warning:
        raise ConfigError(
            f"{where}.critical must be >= warning ({critical!r} < {warning!r} as written)"
        )
    return Thresholds(warning, critical)


def _table(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a table")
    return value


def _only(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(str(k) for k in table if k not in allowed)
    if unknown:
        raise ConfigError(
            f"{where}.{unknown[0]}: unknown key (known: {', '.join(sorted(allowed))})"
        )


def _int(value: Any, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where} must be a whole number >= {minimum}, got {value!r}")
    if value > 2**53:
        raise ConfigError(f"{where} is too large: {value}")
    return value


def _money(value: Any, where: str) -> int:
    if isinstance(value, float):
        raise ConfigError(f'{where}: write money as a string ("0.50"), not a TOML float')
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ConfigError(f'{where} must be an amount written as a string ("0.50"), got {value!r}')
    try:
        scaled = to_scaled(value if isinstance(value, str) else str(value), field=where)
    except MoneyError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if scaled < 0:
        raise ConfigError(f"{where} must not be negative, got {value!r}")
    if scaled >= 2**62:
        raise ConfigError(f"{where} is too large: {value!r}")
    return scaled


def _prefixes(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(
        isinstance(v, str) and v.isascii() and v.isdigit() and 1 <= len(v) <= 15 and v[0] != "0"
        for v in value
    ):
        raise ConfigError(
            f"{where} must be a list of E.164 prefixes (strings of 1-15 digits, not starting "
            f"with 0)"
        )
    return list(value)
