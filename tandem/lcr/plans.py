"""Routing and tariff plans versioned in the store, like decks.

A **routing plan** (``data/routing.toml``: :func:`tandem.lcr.policy.load_config`) says how
each customer's calls are spread over the carriers; a **tariff plan**
(:func:`tandem.rating.plan.load_plan`) adds grace, tiers and periods to the decks' flat
rates. Both decide money, so both are kept as versions with an effective date:

* :func:`import_plan` validates the whole plan with the plan's own loader (an invalid
  plan is refused with the loader's message and the store is left unchanged), compares
  it with the version in force at its effective date (:class:`PlanDiff`: sections and
  keys added, removed, changed) and stores it (:meth:`tandem.store.Store.write_plan`,
  all or nothing). The effective date defaults to the import instant. A plan whose
  SHA-256 equals the version in force then is skipped.
* :func:`routing_config_at` and :func:`tariff_plan_at` give the plan in force at an
  instant; :func:`tandem.lcr.table.compile_table` puts the routing plan in force into
  the compiled table (:func:`table_routing_config` reads it back), and
  :meth:`tandem.rating.price.Rater.from_store` prices each CDR with the tariff plan in
  force at its start (:class:`tandem.rating.schedule.PlanSchedule`).

The text is stored verbatim, so ``tandem plan export`` writes back the imported file.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tandem.errors import ConfigError
from tandem.instant import InstantLike, format_instant, now_instant, parse_instant
from tandem.lcr.policy import RoutingConfig, config_from_mapping
from tandem.rating.plan import TariffPlan
from tandem.rating.schedule import parse_plan_text as parse_tariff_text
from tandem.store import PLAN_KINDS, Store, StoredPlan

if TYPE_CHECKING:
    from tandem.lcr.table import RoutingTable

__all__ = [
    "PLAN_KINDS",
    "KeyChange",
    "PlanDiff",
    "PlanImport",
    "diff_plans",
    "find_plan",
    "import_plan",
    "parse_plan_text",
    "plan_window",
    "routing_config_at",
    "routing_config_of",
    "table_routing_config",
    "tariff_plan_at",
]

_NAMES = {"routing": "routing plan", "tariff": "tariff plan"}


def _check_kind(kind: str) -> None:
    if kind not in PLAN_KINDS:
        raise ConfigError(f"plan kind must be 'routing' or 'tariff', got {kind!r}")


# -- validation ---------------------------------------------------------------------------


def parse_plan_text(kind: str, text: str, where: str) -> RoutingConfig | TariffPlan:
    """Validate a plan's TOML text with its loader: a :class:`RoutingConfig` for
    ``routing``, a :class:`TariffPlan` for ``tariff`` (ConfigError naming ``where``)."""
    _check_kind(kind)
    if kind == "tariff":
        return parse_tariff_text(text, where)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"routing plan {where} is not valid TOML: {exc}") from None
    try:
        config = config_from_mapping(data)
    except ConfigError as exc:
        raise ConfigError(f"routing plan {where}: {exc}") from None
    config.source = where
    return config


def routing_config_of(stored: StoredPlan) -> RoutingConfig:
    """The :class:`RoutingConfig` of a stored routing plan version."""
    config = parse_plan_text("routing", stored.text, _label(stored))
    assert isinstance(config, RoutingConfig)
    return config


def _label(stored: StoredPlan) -> str:
    return f"version {stored.version} ({stored.source_name or 'no file name'})"


# -- diff ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyChange:
    """One key of a plan section that a new version adds, removes or changes.

    ``old`` and ``new`` are the values written as TOML (None where absent).
    """

    section: str
    key: str
    change: str  # "added", "removed" or "changed"
    old: str | None
    new: str | None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {
            "section": self.section,
            "key": self.key,
            "change": self.change,
            "old": self.old,
            "new": self.new,
        }

    def __str__(self) -> str:
        if self.change == "added":
            return f"{self.key} = {self.new} (added)"
        if self.change == "removed":
            return f"{self.key} (removed, was {self.old})"
        return f"{self.key}: {self.old} -> {self.new}"


@dataclass
class PlanDiff:
    """What a plan version changes against the one before it, section by section.

    A section is ``defaults`` or one named table: ``carriers.NAME``, ``customers.NAME``
    (routing), ``carrier.NAME``, ``customer.NAME`` (tariff). ``keys`` lists every changed
    key of the changed sections (list entries by position, e.g. ``tariffs[1].rate``).
    """

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    keys: list[KeyChange] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when nothing differs."""
        return not (self.added or self.removed or self.changed)

    def counts(self) -> dict[str, int]:
        """``{"added": n, "removed": n, "changed": n, "unchanged": n}`` sections."""
        return {
            "added": len(self.added),
            "removed": len(self.removed),
            "changed": len(self.changed),
            "unchanged": len(self.unchanged),
        }

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: section counts and names, and every changed key."""
        return {
            "sections": dict(
                self.counts(), names={"added": self.added, "removed": self.removed,
                                      "changed": self.changed}
            ),
            "keys": [k.to_dict() for k in self.keys],
        }  # fmt: skip

    def lines(self) -> list[str]:
        """The diff as readable lines (``+`` added, ``-`` removed, ``~`` changed)."""
        out = [f"+ {s}" for s in self.added] + [f"- {s}" for s in self.removed]
        for section in self.changed:
            out.append(f"~ {section}")
            out += [f"    {k}" for k in self.keys if k.section == section]
        return out


def _toml_key(name: str) -> str:
    bare = name and all(c.isalnum() or c in "-_" for c in name)
    return name if bare else _toml_value(name)


def _toml_value(value: Any) -> str:
    """A value written as TOML (short, for the diff)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
        )
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _flatten(value: Any, path: str, out: dict[str, Any]) -> None:
    """Leaf values by dotted key path; lists of tables by position (``forced[0].prefix``)."""
    if isinstance(value, dict):
        if not value:
            out[path] = {}
        for k, v in value.items():
            _flatten(v, f"{path}.{_toml_key(k)}" if path else _toml_key(k), out)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, v in enumerate(value):
            _flatten(v, f"{path}[{i}]", out)
    else:
        out[path] = value


def _sections(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each section's keys (flattened): named tables of named tables become one section
    per name (``customers.acme``), any other top-level table or key is its own."""
    out: dict[str, dict[str, Any]] = {}
    for top, value in data.items():
        named = (
            isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values())
        )
        parts = value.items() if named else [(None, value)]
        for name, body in parts:
            section = _toml_key(top) + ("" if name is None else "." + _toml_key(name))
            keys: dict[str, Any] = {}
            _flatten(body, "", keys)
            out[section] = keys
    return out


def diff_plans(old: str | None, new: str) -> PlanDiff:
    """Compare two plans' TOML texts (``old`` None: every section is added)."""
    before = _sections(tomllib.loads(old)) if old is not None else {}
    after = _sections(tomllib.loads(new))
    diff = PlanDiff()
    for section in sorted(set(before) | set(after)):
        if section not in before:
            diff.added.append(section)
        elif section not in after:
            diff.removed.append(section)
        elif before[section] == after[section]:
            diff.unchanged.append(section)
        else:
            diff.changed.append(section)
            a, b = before[section], after[section]
            for key in sorted(set(a) | set(b)):
                if key not in a:
                    diff.keys.append(KeyChange(section, key, "added", None, _toml_value(b[key])))
                elif key not in b:
                    diff.keys.append(KeyChange(section, key, "removed", _toml_value(a[key]), None))
                elif a[key] != b[key] or type(a[key]) is not type(b[key]):
                    diff.keys.append(
                        KeyChange(section, key, "changed", _toml_value(a[key]), _toml_value(b[key]))
                    )
    return diff


# -- import -------------------------------------------------------------------------------


@dataclass
class PlanImport:
    """What :func:`import_plan` did: the diff against the version in force at the
    effective date (``previous``), and the stored ``version`` (None when skipped: same
    SHA-256 as ``previous``, or a dry run)."""

    kind: str
    source_name: str
    sha256: str
    effective_from: int
    imported_at: int
    diff: PlanDiff
    previous: StoredPlan | None = None
    version: StoredPlan | None = None
    skipped: bool = False
    dry_run: bool = False

    @property
    def written(self) -> bool:
        """True when a new version was stored."""
        return self.version is not None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready report."""
        return {
            "kind": self.kind,
            "source": self.source_name,
            "sha256": self.sha256,
            "effective_from": format_instant(self.effective_from),
            "imported_at": format_instant(self.imported_at),
            "previous_version": None if self.previous is None else self.previous.version,
            "version": None if self.version is None else self.version.version,
            "written": self.written,
            "skipped": self.skipped,
            "dry_run": self.dry_run,
            "diff": self.diff.to_dict(),
        }


def _read_source(source: str | os.PathLike[str] | bytes, kind: str) -> tuple[bytes, str]:
    if isinstance(source, bytes):
        return source, ""
    path = Path(source)
    try:
        return path.read_bytes(), path.name
    except OSError as exc:
        raise ConfigError(
            f"cannot read {_NAMES[kind]} {os.fspath(path)!r}: {exc.strerror}"
        ) from None


def import_plan(
    store: Store,
    source: str | os.PathLike[str] | bytes,
    *,
    kind: str = "routing",
    effective: InstantLike | None = None,
    now: InstantLike | None = None,
    source_name: str | None = None,
    dry_run: bool = False,
) -> PlanImport:
    """Import a ``routing`` or ``tariff`` plan (a file path, or the file's bytes) as a new
    version in force from ``effective`` (default: the import instant ``now``, which
    defaults to the clock).

    The whole plan is validated first (:func:`parse_plan_text`); an invalid plan raises
    :class:`ConfigError` and nothing is written. The report's diff compares it with the
    version in force at ``effective``; when that version has the same SHA-256 the import
    is skipped (``skipped``, nothing written). The new version supersedes the stored
    versions from ``effective`` on (see :mod:`tandem.store.plans`).
    """
    _check_kind(kind)
    data, name = _read_source(source, kind)
    name = source_name if source_name is not None else name
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{_NAMES[kind]} {name or '(bytes)'} is not UTF-8 text") from None
    parse_plan_text(kind, text, repr(name) if name else "(bytes)")
    now_s = now_instant() if now is None else parse_instant(now)
    start = now_s if effective is None else parse_instant(effective)
    previous = store.plan_in_force(kind, start)
    report = PlanImport(
        kind=kind,
        source_name=name,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        effective_from=start,
        imported_at=now_s,
        diff=diff_plans(None if previous is None else previous.text, text),
        previous=previous,
        dry_run=dry_run,
    )
    if previous is not None and previous.source_sha256 == report.sha256:
        report.skipped = True
        return report
    if dry_run:
        return report
    report.version = store.write_plan(
        kind,
        text,
        effective_from=start,
        source_name=name,
        imported_at=datetime.fromtimestamp(now_s, UTC),
    )
    return report


# -- the plan in force --------------------------------------------------------------------


def routing_config_at(store: Store, at: InstantLike) -> RoutingConfig | None:
    """The routing plan in force at ``at``, or None when none is stored for then."""
    stored = store.plan_in_force("routing", parse_instant(at))
    return None if stored is None else routing_config_of(stored)


def tariff_plan_at(store: Store, at: InstantLike) -> TariffPlan | None:
    """The tariff plan in force at ``at``, or None when none is stored for then."""
    stored = store.plan_in_force("tariff", parse_instant(at))
    if stored is None:
        return None
    plan = parse_plan_text("tariff", stored.text, _label(stored))
    assert isinstance(plan, TariffPlan)
    return plan


def plan_window(
    store: Store, kind: str, at: int
) -> tuple[StoredPlan | None, int | None, int | None]:
    """``(version, from, until)``: the version of ``kind`` in force at ``at`` (or None) and
    the instants around ``at`` where the plan in force last changed and next changes
    (None: never / not before ``at``)."""
    history = store.plan_history(kind)
    stored = next((v for v in history if v.in_force_at(at)), None)
    edges = {v.effective_from for v in history} | {
        v.effective_until for v in history if v.effective_until is not None
    }
    before = [e for e in edges if e <= at]
    after = [e for e in edges if e > at]
    return stored, max(before) if before else None, min(after) if after else None


def find_plan(
    store: Store, kind: str, *, at: InstantLike | None = None, version: int | None = None
) -> StoredPlan:
    """The stored version ``version`` of ``kind``, else the one in force at ``at`` (default:
    now); ConfigError saying what is stored when there is none."""
    _check_kind(kind)
    if version is not None:
        for v in store.plan_versions(kind):
            if v.version == version:
                return v
        known = ", ".join(str(v.version) for v in store.plan_versions(kind)) or "none"
        raise ConfigError(f"no {_NAMES[kind]} version {version} (stored versions: {known})")
    t = now_instant() if at is None else parse_instant(at)
    stored = store.plan_in_force(kind, t)
    if stored is None:
        raise ConfigError(
            f"no {_NAMES[kind]} in force at {format_instant(t)}; import one with "
            f"'tandem plan import FILE --kind {kind}' or see 'tandem plan list'"
        )
    return stored


def table_routing_config(table: RoutingTable) -> RoutingConfig:
    """The routing plan compiled into ``table`` (:func:`tandem.lcr.table.compile_table`
    puts the one in force at the compile instant there), or an empty config when it
    has none (every customer on plain least cost, trunks named after the carriers)."""
    stored = table.routing_plan
    return RoutingConfig() if stored is None else routing_config_of(stored)
