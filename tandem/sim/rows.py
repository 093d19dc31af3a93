"""Generated calls as parallel numpy columns, and how a call ends (SIP code, length, PDD)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal

import numpy as np

from tandem.sim.profile import FAILURE_CODES

__all__ = ["Rows", "DestTable", "draw_numbers", "outcomes"]

#: Codes whose PDD is the time to the far end's phone ringing (or answering); the others
#: are refused by a network element quickly (408 waits for SIP timer B, 32 s).
_RINGING = np.array([200, 480, 486, 487, 603], dtype=np.int16)


@dataclass
class Rows:
    """Calls as columns of equal length (indices into the generator's tables)."""

    start: np.ndarray  # int64 epoch seconds
    duration: np.ndarray  # int64 seconds
    number: np.ndarray  # int64 E.164 digits
    dest: np.ndarray  # int32 index into DestTable
    customer: np.ndarray  # int32 index into TrafficProfile.customers
    trunk: np.ndarray  # int32 index into the customers' trunks, flattened
    carrier: np.ndarray  # int32 index into TrafficProfile.carriers
    sip: np.ndarray  # int16 final SIP code
    pdd: np.ndarray  # int32 ms
    label: np.ndarray  # int8 index into LABELS

    @staticmethod
    def concat(parts: Sequence[Rows]) -> Rows:
        """All parts, one after the other."""
        return Rows(**{f.name: np.concatenate([getattr(p, f.name) for p in parts])
                       for f in fields(Rows)})  # fmt: skip

    def take(self, index: np.ndarray) -> Rows:
        """The rows at ``index``."""
        return Rows(**{f.name: getattr(self, f.name)[index] for f in fields(Rows)})

    def __len__(self) -> int:
        return len(self.start)


@dataclass
class DestTable:
    """Every range calls are drawn from: prefix, full length, sell rate per minute."""

    prefix: list[str] = field(default_factory=list)
    length: list[int] = field(default_factory=list)
    rate: list[Decimal] = field(default_factory=list)
    _index: dict[str, int] = field(default_factory=dict)

    def add(self, prefix: str, length: int, rate: Decimal) -> int:
        """The index of ``prefix``, added if new."""
        if prefix in self._index:
            return self._index[prefix]
        self.prefix.append(prefix)
        self.length.append(length)
        self.rate.append(rate)
        self._index[prefix] = len(self.prefix) - 1
        return self._index[prefix]


def draw_numbers(rng: np.random.Generator, dest: np.ndarray, table: DestTable) -> np.ndarray:
    """A random full number (int64 digits) in each call's range."""
    prefix = np.array([int(p) for p in table.prefix], dtype=np.int64)
    free = np.array([n - len(p) for p, n in zip(table.prefix, table.length, strict=True)])
    scale = (10 ** free.astype(np.int64))[dest]
    return prefix[dest] * scale + rng.integers(0, scale)


def outcomes(
    rng: np.random.Generator,
    asr: np.ndarray | float,
    pdd_ms: np.ndarray | float,
    acd: np.ndarray | float,
    *,
    n: int | None = None,
    sigma: float = 1.0,
    cap: int = 7200,
    fail: Mapping[int, float] = FAILURE_CODES,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How ``n`` calls end: ``(sip_code, duration, pdd_ms)``.

    Answered with probability ``asr`` (SIP 200; a lognormal length whose mean is ``acd``
    seconds and whose log has deviation ``sigma``, at least 1 s, at most ``cap``), else a
    code drawn from ``fail`` (code → share) with duration 0. The PDD of a call that rang
    is lognormal around ``pdd_ms``; a refusal comes back in about 250 ms; 408 after 32 s.
    """
    if n is None:
        n = len(np.asarray(asr)) if np.ndim(asr) else len(np.asarray(acd))
    answered = rng.random(n) < asr
    codes = np.array(list(fail), dtype=np.int16)
    p = np.array(list(fail.values()), dtype=np.float64)
    sip = np.where(answered, np.int16(200), codes[rng.choice(len(codes), size=n, p=p / p.sum())])
    mu = np.log(acd) - sigma**2 / 2
    length = np.ceil(np.exp(mu + sigma * rng.standard_normal(n)))
    duration = np.where(answered, np.clip(length, 1, cap), 0).astype(np.int64)
    ringing = np.isin(sip, _RINGING)
    median = np.where(sip == 408, 32_000.0, np.where(ringing, pdd_ms, 250.0))
    pdd = np.maximum(median * np.exp(0.35 * rng.standard_normal(n)), 20.0).astype(np.int32)
    return sip.astype(np.int16), duration, pdd
