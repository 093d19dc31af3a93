"""Tariff plans by call start: which stored tariff plan version prices a CDR.

Tariff plans are versioned in the store (``tandem plan import tariffs.toml --kind
tariff``), each version in force over ``[effective_from, effective_until)``. A CDR is
priced with the version in force at its **start instant**, so rerating last month uses
last month's plan. A :class:`PlanSchedule` is that step function: the instants where the
plan in force changes (``cuts``) and the plan of each window between them (None where no
version was in force: the CDR is rated on its deck's flat rates, as without a plan).
"""

from __future__ import annotations

import tomllib
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tandem.errors import ConfigError
from tandem.rating.plan import TariffPlan, parse_plan

if TYPE_CHECKING:  # the store (SQLAlchemy) is not imported to price from a cached book
    from tandem.store import Store, StoredPlan

__all__ = ["PlanSchedule", "parse_plan_text"]


def parse_plan_text(text: str, where: str) -> TariffPlan:
    """A :class:`TariffPlan` from TOML text; every error, in the TOML or in the plan, is a
    :class:`ConfigError` that names the plan (``where``)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"tariff plan {where} is not valid TOML: {exc}") from None
    try:
        return parse_plan(data)
    except ConfigError as exc:
        raise ConfigError(f"tariff plan {where}: {exc}") from None


@dataclass(frozen=True)
class PlanSchedule:
    """Tariff plans by the instant a call starts.

    ``plans[k]`` is in force for starts in ``[cuts[k-1], cuts[k])`` (``plans[0]`` before
    ``cuts[0]``, the last one from the last cut on); ``versions[k]`` is its stored
    version number. None means no plan: flat deck rates and the default grace.
    """

    cuts: tuple[int, ...]
    plans: tuple[TariffPlan | None, ...]
    versions: tuple[int | None, ...]

    def __post_init__(self) -> None:
        if len(self.plans) != len(self.cuts) + 1 or len(self.versions) != len(self.plans):
            raise ValueError("a plan schedule has one plan more than it has cuts")
        if any(b <= a for a, b in zip(self.cuts, self.cuts[1:], strict=False)):
            raise ValueError("the cuts of a plan schedule must increase")

    def window(self, at: int) -> int:
        """The index of the window holding instant ``at``."""
        return bisect_right(self.cuts, at)

    def plan_at(self, at: int) -> TariffPlan | None:
        """The plan in force at ``at`` (UTC epoch seconds), or None."""
        return self.plans[self.window(at)]

    @classmethod
    def from_versions(cls, versions: Iterable[StoredPlan]) -> PlanSchedule:
        """The schedule of stored tariff plan versions (voided ones are skipped; each
        text is parsed, a stored version that no longer parses is a ConfigError)."""
        points: list[tuple[int, TariffPlan | None, int | None]] = []
        live = sorted((v for v in versions if not v.voided), key=lambda v: v.effective_from)
        for v in live:
            try:
                plan = parse_plan_text(v.text, f"version {v.version} ({v.source_name})")
            except ConfigError as exc:
                raise ConfigError(
                    f"stored {exc}; import a corrected version with 'tandem plan import "
                    "FILE --kind tariff'"
                ) from None
            if points and points[-1][0] == v.effective_from:
                points.pop()  # the previous version's end: this one begins there
            points.append((v.effective_from, plan, v.version))
            if v.effective_until is not None:
                points.append((v.effective_until, None, None))
        return cls(
            cuts=tuple(p[0] for p in points),
            plans=(None, *(p[1] for p in points)),
            versions=(None, *(p[2] for p in points)),
        )

    @classmethod
    def from_store(cls, store: Store) -> PlanSchedule | None:
        """The store's tariff plan versions as a schedule, or None when none is stored."""
        versions = store.plan_history("tariff")
        return cls.from_versions(versions) if versions else None
