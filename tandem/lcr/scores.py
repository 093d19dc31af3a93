"""Live carrier quality as the router reads it: :class:`Score`, the :class:`ScoreSource`
protocol and the ``[quality]`` settings of the routing TOML (:class:`QualityConfig`).

The router never computes a score: it asks a score source (``Router(..., scores=...)``,
in practice a :class:`tandem.quality.QualityBoard` over shared counters) for the figures
of the carriers it considers, per **destination group** (:meth:`ScoreSource.group_of`:
the first ``group_digits`` digits of the number routed on). Plans use them two ways
(:mod:`tandem.lcr.policy`): ``floors`` (a carrier below an ASR/ACD floor is dropped for a
cooldown, but for a probe share of calls) and ``strategy = "quality"`` (cost divided by
the live ASR).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

from tandem.errors import ConfigError
from tandem.lcr.configkeys import refuse_unknown_keys

__all__ = [
    "PDD_EDGES_MS",
    "CarrierLook",
    "QualityConfig",
    "Score",
    "ScoreSource",
    "GatheredScoreSource",
    "quality_config_from_mapping",
]

#: Edges (milliseconds) of the fixed PDD histogram every score keeps: bucket ``i`` holds
#: post-dial delays in ``[PDD_EDGES_MS[i], PDD_EDGES_MS[i + 1])``; a delay at or above the
#: last edge falls in the last bucket. Percentiles are interpolated linearly inside a bucket.
PDD_EDGES_MS: tuple[int, ...] = (
    0, 250, 500, 750, 1000, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 8000, 10000,
    15000, 20000, 30000, 60000,
)  # fmt: skip


class Score(NamedTuple):
    """The quality of one carrier on one destination group at one instant.

    ``attempts`` and ``answered`` are raw counts inside the window; the figures are
    time-decayed and shrunk toward the carrier's overall figure (see
    :mod:`tandem.quality.board` for the formula). ``known`` is False when the window holds
    fewer than ``min_attempts`` attempts: the figures are then None, and the router treats
    the carrier as unknown (never as the best). ``asr`` and ``ner`` are ratios in [0, 1],
    ``acd`` seconds per answered call, ``pdd_p50``/``pdd_p95`` milliseconds (None without
    PDD samples).
    """

    attempts: int
    answered: int
    asr: float | None
    ner: float | None
    acd: float | None
    pdd_p50: float | None
    pdd_p95: float | None
    known: bool


class CarrierLook(NamedTuple):
    """What a score source tells the router about one carrier on one destination group:
    its score (None: nothing recorded in the window) and the instant its quality cooldown
    ends (None: not cooling down)."""

    score: Score | None
    cooling_until: float | None


#: An empty floor slot (see :meth:`tandem.quality.QualityBoard.watch_groups`): the router
#: keeps a group's clear floor answer as the whole-second instants ``[from, until)`` in an
#: ``array("q")``; this pair holds no instant.
EMPTY_FLOOR_SLOT = (2**63 - 1, -(2**63))


def floor_slot_index(slots: Any, group: str) -> int:
    """The index of ``group``'s pair in floor slots ``slots`` (``2 * 10**digits`` int64s:
    a group of exactly ``digits`` ASCII digits without a leading zero has the pair at
    ``2 * int(group)``); -1 for a group without one."""
    if (
        2 * 10 ** len(group) == len(slots)
        and group.isdigit()
        and group.isascii()
        and group[0] != "0"
    ):
        return 2 * int(group)
    return -1


def empty_floor_slot(slots: Any, group: str) -> None:
    """Empty ``group``'s pair in floor slots ``slots`` (when it has one)."""
    g = floor_slot_index(slots, group)
    if g >= 0:
        slots[g] = EMPTY_FLOOR_SLOT[0]
        slots[g + 1] = EMPTY_FLOOR_SLOT[1]


@runtime_checkable
class ScoreSource(Protocol):
    """Live per-carrier quality the router reads (:class:`tandem.quality.QualityBoard`).

    A source whose groups are a number's first digits may say so with an int attribute
    ``group_digits`` (``group_of(number) == number[:group_digits]`` for its whole life):
    the router then finds a number's group without calling :meth:`group_of`."""

    def group_of(self, number: str) -> str:
        """The destination group of an E.164 number (digits)."""
        ...

    def look(self, carriers: Sequence[str], group: str, *, at: float) -> list[CarrierLook]:
        """Score and cooldown of each carrier on ``group`` at ``at``, in the given order
        (one round trip to shared state at most)."""
        ...

    def cool(self, carrier: str, group: str, *, seconds: float, at: float) -> float:
        """Start a quality cooldown of ``seconds`` for the carrier on ``group`` (unless one
        runs already); return the instant it ends."""
        ...


@runtime_checkable
class GatheredScoreSource(ScoreSource, Protocol):
    """A :class:`ScoreSource` whose reads can join a decision's one round trip
    (:meth:`tandem.lcr.router.Router.prepare`): :meth:`look` split in two around a
    :class:`~tandem.state.Gather`, and a cooldown that needs no round trip of its own."""

    def queue_look(self, carriers: Sequence[str], group: str, *, at: float, gather: Any) -> Any:
        """Queue what :meth:`look` would read on ``gather``; hand the result to
        :meth:`finish_look` once the gather is executed."""
        ...

    def finish_look(self, queued: Any, gather: Any) -> list[CarrierLook]:
        """What :meth:`look` would answer, from the executed gather."""
        ...

    def cool_later(self, carrier: str, group: str, *, seconds: float, at: float) -> float:
        """:meth:`cool` whose shared write goes with the source's next round trip."""
        ...


@dataclass(frozen=True)
class QualityConfig:
    """How live quality is measured (the ``[quality]`` table of the routing TOML).

    ``window``: seconds of history a score reads (and shared state keeps); ``bucket``:
    seconds per stored sample (divides ``window``); ``half_life``: seconds after which a
    sample weighs half (None: no decay); ``prior_weight``: ``k``, how many attempts' worth
    of the carrier's overall figure a group's figure is shrunk toward; ``min_attempts``:
    attempts inside the window below which a score is unknown; ``group_digits``: digits of
    the number that name its destination group; ``refresh``: seconds a node reuses a score
    it read (0: read on every decision).
    """

    window: int = 1800
    bucket: int = 60
    half_life: float | None = 600.0
    prior_weight: float = 20.0
    min_attempts: int = 20
    group_digits: int = 4
    refresh: float = 5.0

    def __post_init__(self) -> None:
        _check_config(self)


def _check_config(c: QualityConfig) -> None:
    where = "quality"
    if type(c.bucket) is not int or c.bucket <= 0:
        raise ConfigError(
            f"{where}.bucket must be a whole number of seconds >= 1, got {c.bucket!r}"
        )
    if type(c.window) is not int or c.window < c.bucket or c.window % c.bucket:
        raise ConfigError(
            f"{where}.window must be a whole multiple of {where}.bucket ({c.bucket} s), "
            f"got {c.window!r}"
        )
    if c.half_life is not None and not _positive(c.half_life):
        raise ConfigError(f"{where}.half_life must be a number of seconds > 0, got {c.half_life!r}")
    if not _number(c.prior_weight) or c.prior_weight < 0:
        raise ConfigError(f"{where}.prior_weight must be a number >= 0, got {c.prior_weight!r}")
    if type(c.min_attempts) is not int or c.min_attempts < 1:
        raise ConfigError(
            f"{where}.min_attempts must be a whole number >= 1, got {c.min_attempts!r}"
        )
    if type(c.group_digits) is not int or not 1 <= c.group_digits <= 15:
        raise ConfigError(
            f"{where}.group_digits must be a whole number from 1 to 15, got {c.group_digits!r}"
        )
    if not _number(c.refresh) or c.refresh < 0:
        raise ConfigError(f"{where}.refresh must be a number of seconds >= 0, got {c.refresh!r}")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _positive(value: Any) -> bool:
    return _number(value) and value > 0


_QUALITY_KEYS = (
    "window", "bucket", "half_life", "prior_weight", "min_attempts", "group_digits", "refresh",
)  # fmt: skip


def quality_config_from_mapping(data: Mapping[str, Any], where: str = "quality") -> QualityConfig:
    """A :class:`QualityConfig` from the ``[quality]`` table of the routing TOML; unknown
    keys and wrong values raise :class:`~tandem.errors.ConfigError` naming the key.
    ``half_life = 0`` turns decay off."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a table")
    refuse_unknown_keys(data, _QUALITY_KEYS, where, _QUALITY_KEYS)
    kw = dict(data)
    for name in ("window", "bucket", "min_attempts", "group_digits"):
        if name in kw and (type(kw[name]) is not int):
            raise ConfigError(f"{where}.{name} must be a whole number, got {kw[name]!r}")
    for name in ("half_life", "prior_weight", "refresh"):
        if name in kw and not _number(kw[name]):
            raise ConfigError(f"{where}.{name} must be a number, got {kw[name]!r}")
    if kw.get("half_life") == 0:
        kw["half_life"] = None
    try:
        return QualityConfig(**kw)
    except ConfigError as exc:
        if where == "quality":
            raise
        raise ConfigError(str(exc).replace("quality.", f"{where}.", 1)) from None
