"""One simulation, end to end: :func:`simulate` (what ``tandem simulate`` runs).

The traffic (canonical CDRs: :func:`read_cdrs` reads any file ``tandem rate`` reads, with
the rating module's :class:`~tandem.rating.CdrReader`) is replayed in the store's world
(:class:`~tandem.sim.world.World`: its rate history, its routing plans and tariff plans),
with ``table`` (a compiled table file routing every call) or ``at`` (the table in force
then) if given, and the scenario's deck changes laid over it. With ``vs_table`` or
``vs_deck`` + ``carrier`` the same traffic is replayed a second time in a candidate world
(the candidate table in force, or the deck as the carrier's rates, over the whole
history) and the two are compared (:mod:`tandem.sim.whatif`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from tandem.errors import ConfigError
from tandem.instant import format_instant
from tandem.sim.replay import replay
from tandem.sim.scenario import Scenario
from tandem.sim.summary import Summary, summarize
from tandem.sim.whatif import WhatIf, compare
from tandem.sim.world import World

if TYPE_CHECKING:
    from tandem.lcr.policy import RoutingConfig
    from tandem.rating.cdr import CdrReader, CdrSource
    from tandem.rating.price import Rater
    from tandem.store import Store

__all__ = ["SimulationResult", "read_cdrs", "simulate"]


@dataclass
class SimulationResult:
    """The replay's :class:`Summary` and, for a what-if, the comparison."""

    summary: Summary
    whatif: WhatIf | None = None
    candidate: Summary | None = None
    at: int | None = None
    #: the base replay's carried calls as the rating module priced them (``row``: the
    #: call's position in the traffic), for the warehouse (``tandem simulate --to-db``)
    priced: pa.Table | None = None

    def warehouse_table(self) -> pa.Table:
        """The priced calls whose sell side rated, as the warehouse loads rated CDRs
        (:meth:`tandem.store.Store.load_rated`): ``start_epoch``, ``record`` (the call's
        ordinal in the traffic, from 1) and ``call_id`` prefixed ``sim:`` (the traffic's
        own id, else ``r`` and the ordinal), so that simulated rows never replace the
        rows of the real CDRs they were replayed from."""
        import pyarrow.compute as pc

        from tandem.rating.price import split_rated

        if self.priced is None:
            return pa.table({})
        rated, _ = split_rated(self.priced)
        record = pc.add(rated.column("row"), 1)
        own = (
            rated.column("call_id").cast(pa.string())
            if "call_id" in rated.column_names
            else pa.nulls(rated.num_rows, pa.string())
        )
        ids = pc.binary_join_element_wise(
            "sim:",
            pc.coalesce(own, pc.binary_join_element_wise("r", record.cast(pa.string()), "")),
            "",
        )
        table = rated.drop_columns([c for c in ("call_id", "row") if c in rated.column_names])
        return (
            table.rename_columns(["start_epoch" if c == "start" else c for c in table.column_names])
            .append_column("record", record)
            .append_column("call_id", ids)
        )

    def as_json(self, top: int | None = 20) -> dict[str, Any]:
        """The ``--json`` object: the base replay's fields, ``at`` (the instant whose table
        routed every call, or None: each call by its own), plus ``whatif`` when asked."""
        out = self.summary.as_json()
        out["at"] = None if self.at is None else format_instant(self.at)
        if self.whatif is not None:
            out["whatif"] = self.whatif.as_json(top)
        return out


def read_cdrs(source: CdrSource, reader: CdrReader | None = None) -> pa.Table:
    """All canonical CDRs of ``source`` (a file of any format ``tandem rate`` reads, a
    DataFrame or an Arrow table) in one table."""
    from tandem.rating.cdr import CdrReader

    reader = reader or CdrReader()
    parts = list(reader.batches(source))
    return pa.concat_tables(parts, promote_options="permissive") if parts else pa.table({})


def _with_changes(world: World, scenario: Scenario) -> World:
    from tandem.lcr.table import RoutingTable

    for change in scenario.changes:
        if change.table is not None:
            world = world.with_table(RoutingTable.load(change.table), change.at)
        else:
            assert change.deck is not None and change.carrier is not None
            world = world.with_deck(change.deck, change.carrier, change.at)
    return world


def simulate(
    cdrs: pa.Table,
    store: Store,
    *,
    scenario: Scenario | None = None,
    table: str | Path | None = None,
    at: int | None = None,
    config: RoutingConfig | None = None,
    vs_table: str | Path | None = None,
    vs_deck: str | Path | None = None,
    carrier: str | None = None,
    seed: int = 0,
    interval: int = 3600,
    rater: Rater | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> SimulationResult:
    """Replay ``cdrs`` (canonical) in ``store``'s world (see the module docstring).
    ``rater``: the store's own :class:`~tandem.rating.Rater` if already built (e.g. from
    the cache of :func:`tandem.rating.bookcache.load_rater`); else it is compiled."""
    from tandem.lcr.table import RoutingTable
    from tandem.rating.schedule import PlanSchedule

    if table is not None and at is not None:
        raise ConfigError("give either a table file or --at, not both")
    if vs_table is not None and vs_deck is not None:
        raise ConfigError("give either --vs TABLE or --vs-deck FILE, not both")
    if (vs_deck is None) != (carrier is None):
        raise ConfigError("--vs-deck FILE needs --carrier NAME (and --carrier needs --vs-deck)")
    if interval < 1:
        raise ConfigError(f"the report interval must be at least 1 second, got {interval}")
    scenario = scenario or Scenario()
    base = World(None, store, config, at, schedule=PlanSchedule.from_store(store), base_rater=rater)
    current = None
    if table is not None:
        current = RoutingTable.load(table)
        base = base.with_table(current, 0)
    candidate = None
    if vs_table is not None:
        candidate = base.with_table(RoutingTable.load(vs_table), 0)
    elif vs_deck is not None:
        assert carrier is not None
        if current is not None:  # the current table's quotes with the deck laid over them,
            # compiled as of the table's instant (with the store's customer rates then)
            candidate = World(
                base.history, store, config, current.compiled_at, schedule=base.schedule
            )
        candidate = (candidate or base).with_deck(Path(vs_deck), carrier, 0)
    played = replay(
        cdrs, _with_changes(base, scenario), scenario, seed=seed, on_progress=on_progress
    )
    result = summarize(played, interval)
    if candidate is None:
        return SimulationResult(result, at=at, priced=played.priced)
    other = summarize(
        replay(
            cdrs, _with_changes(candidate, scenario), scenario, seed=seed, on_progress=on_progress
        ),
        interval,
    )
    return SimulationResult(result, compare(result, other), other, at, played.priced)
