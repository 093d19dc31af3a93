"""A simulation scenario: scripted events read from a TOML file of ``[[events]]`` tables.

Three kinds of event, told apart by their keys (every other key is refused):

* **outage**: ``carrier``, ``down_from``, ``down_until``: every attempt on the carrier in
  ``[down_from, down_until)`` fails with ``code`` (SIP, default 503);
* **quality collapse**: ``carrier``, ``prefix``, ``asr``, ``from``, ``until`` (and
  ``code``, default 503): in ``[from, until)`` an attempt on the carrier for a number that
  starts with ``prefix`` gets through with probability ``asr`` (a seeded draw per call and
  route), otherwise it fails with ``code``;
* **deck change**: ``at`` and either ``table = FILE`` (a compiled table from ``tandem
  compile``: calls from ``at`` on are routed with it) or ``deck = FILE`` with ``carrier =
  NAME`` (a vendor deck not imported: from ``at`` on it is that carrier's rate deck, for
  routing and pricing). Relative paths are read from the scenario file's directory.

Instants are TOML date-times with a zone, ISO 8601 text or epoch seconds
(:func:`tandem.instant.parse_instant`). Any mistake (an unknown key, a wrong type, an end
not after its start, an ``asr`` outside 0..1) is a :class:`~tandem.errors.ConfigError`
naming the event and the key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from tandem.errors import ConfigError, InstantError
from tandem.instant import format_instant, parse_instant

__all__ = [
    "DeckChange",
    "Outage",
    "QualityDrop",
    "Scenario",
    "load_scenario",
    "scenario_from_mapping",
]

_OUTAGE_KEYS = ("carrier", "down_from", "down_until", "code")
_DROP_KEYS = ("carrier", "prefix", "asr", "from", "until", "code")
_DECK_KEYS = ("at", "table", "deck", "carrier")


@dataclass(frozen=True)
class Outage:
    """Carrier ``carrier`` answers no attempt in ``[down_from, down_until)`` (SIP ``code``)."""

    carrier: str
    down_from: int
    down_until: int
    code: int = 503


@dataclass(frozen=True)
class QualityDrop:
    """In ``[start, until)`` an attempt on ``carrier`` for a number under ``prefix`` gets
    through with probability ``asr``; otherwise it fails with SIP ``code``."""

    carrier: str
    prefix: str
    asr: float
    start: int
    until: int
    code: int = 503


@dataclass(frozen=True)
class DeckChange:
    """From ``at`` on: route with ``table`` (a snapshot file), or give ``carrier`` the
    rates of ``deck`` (a deck file not imported)."""

    at: int
    table: Path | None = None
    deck: Path | None = None
    carrier: str | None = None


@dataclass(frozen=True)
class Scenario:
    """The events of a scenario file, by kind, each list in the file's order."""

    outages: tuple[Outage, ...] = ()
    drops: tuple[QualityDrop, ...] = ()
    changes: tuple[DeckChange, ...] = field(default=())

    @property
    def empty(self) -> bool:
        """True when nothing is scripted."""
        return not (self.outages or self.drops or self.changes)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file (see the module docstring)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"scenario {p}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"scenario {p}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"scenario {p}: not valid TOML: {exc}") from None
    return scenario_from_mapping(data, base=p.parent, where=f"scenario {p.name}")


def scenario_from_mapping(
    data: dict[str, Any], *, base: Path = Path("."), where: str = "scenario"
) -> Scenario:
    """Validate a parsed scenario (``{"events": [...]}``); paths relative to ``base``."""
    unknown = set(data) - {"events"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: events")
    events = data.get("events", [])
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise ConfigError(f"{where}: events must be [[events]] tables")
    outages: list[Outage] = []
    drops: list[QualityDrop] = []
    changes: list[DeckChange] = []
    for i, event in enumerate(events, 1):
        here = f"{where}: event {i}"
        if "down_from" in event or "down_until" in event:
            outages.append(_outage(event, here))
        elif "asr" in event or "prefix" in event or "from" in event:
            drops.append(_drop(event, here))
        elif "at" in event:
            changes.append(_change(event, here, base))
        else:
            raise ConfigError(
                f"{here}: not an outage (carrier, down_from, down_until), a quality collapse "
                "(carrier, prefix, asr, from, until) or a deck change (at, table | deck + carrier)"
            )
    return Scenario(tuple(outages), tuple(drops), tuple(sorted(changes, key=lambda c: c.at)))


def _keys(
    event: dict[str, Any], allowed: tuple[str, ...], required: tuple[str, ...], here: str
) -> None:
    unknown = set(event) - set(allowed)
    if unknown:
        raise ConfigError(
            f"{here}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(allowed)}"
        )
    missing = [k for k in required if k not in event]
    if missing:
        raise ConfigError(f"{here}: missing key(s) {', '.join(missing)}")


def _text(event: dict[str, Any], key: str, here: str) -> str:
    value = event[key]
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{here}: {key} must be a non-empty string, got {value!r}")
    return value.strip()


def _instant(event: dict[str, Any], key: str, here: str) -> int:
    value = event[key]
    if isinstance(value, bool) or not isinstance(value, int | str | datetime | date):
        raise ConfigError(f"{here}: {key} must be an instant, got {value!r}")
    try:
        return parse_instant(value)
    except InstantError as exc:
        raise ConfigError(f"{here}: {key}: {exc}") from None


def _code(event: dict[str, Any], here: str) -> int:
    value = event.get("code", 503)
    if isinstance(value, bool) or not isinstance(value, int) or not 300 <= value <= 699:
        raise ConfigError(f"{here}: code must be a SIP final failure code (300-699), got {value!r}")
    return value


def _window(start: int, until: int, keys: tuple[str, str], here: str) -> None:
    if until <= start:
        raise ConfigError(
            f"{here}: {keys[1]} {format_instant(until)} must be after "
            f"{keys[0]} {format_instant(start)}"
        )


def _outage(event: dict[str, Any], here: str) -> Outage:
    _keys(event, _OUTAGE_KEYS, ("carrier", "down_from", "down_until"), f"{here} (outage)")
    start = _instant(event, "down_from", here)
    until = _instant(event, "down_until", here)
    _window(start, until, ("down_from", "down_until"), here)
    return Outage(_text(event, "carrier", here), start, until, _code(event, here))


def _drop(event: dict[str, Any], here: str) -> QualityDrop:
    _keys(event, _DROP_KEYS, _DROP_KEYS[:-1], f"{here} (quality collapse)")
    prefix = _text(event, "prefix", here)
    if not prefix.isascii() or not prefix.isdigit():
        raise ConfigError(f"{here}: prefix must be digits, got {prefix!r}")
    asr = event["asr"]
    if isinstance(asr, bool) or not isinstance(asr, int | float) or not 0 <= asr <= 1:
        raise ConfigError(f"{here}: asr must be a number from 0 to 1, got {asr!r}")
    start = _instant(event, "from", here)
    until = _instant(event, "until", here)
    _window(start, until, ("from", "until"), here)
    return QualityDrop(
        _text(event, "carrier", here), prefix, float(asr), start, until, _code(event, here)
    )


def _change(event: dict[str, Any], here: str, base: Path) -> DeckChange:
    _keys(event, _DECK_KEYS, ("at",), f"{here} (deck change)")
    at = _instant(event, "at", here)
    if "table" in event:
        if "deck" in event or "carrier" in event:
            raise ConfigError(f"{here}: give either table = FILE or deck = FILE with carrier")
        return DeckChange(at, table=base / _text(event, "table", here))
    if "deck" not in event or "carrier" not in event:
        raise ConfigError(f"{here}: a deck change needs table = FILE, or deck = FILE and carrier")
    return DeckChange(
        at, deck=base / _text(event, "deck", here), carrier=_text(event, "carrier", here)
    )
