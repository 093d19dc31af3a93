"""A traffic profile: who calls where, when, over which carrier, and how calls end.

A :class:`TrafficProfile` is the seeded, explicit description generated traffic is drawn
from (and what a simulation can reuse without any CDRs):

* **destinations** by share: the first ``N`` of :data:`tandem.sim.universe.DESTINATIONS`,
  rank ``r`` (from 1) with the Zipf-like weight ``1 / r**zipf``;
* **customers**: each with a share of the calls (lognormal, a few big ones and a long
  tail), a time zone (its calls follow :data:`HOURLY` in its local time, scaled by
  :data:`WEEKDAY`), one to three trunks each with its own source IP, and a portfolio:
  the destinations it calls (bigger customers call more of them), drawn by share, with
  its own tilt on the shares;
* **carriers**: each destination is carried by two to four of them with a routing share
  each; every carrier has its own answer-seizure ratio (ASR) and post-dial delay (PDD)
  on every destination around the destination's typical figures;
* **call outcomes**: answered with the carrier's ASR (SIP 200, a lognormal length whose
  mean is the destination's ACD), else a final SIP code drawn from
  :data:`FAILURE_CODES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from tandem.errors import ConfigError
from tandem.sim.universe import DESTINATIONS, Destination

__all__ = [
    "HOURLY",
    "WEEKDAY",
    "DEFAULT_CARRIERS",
    "FAILURE_CODES",
    "DISPOSITIONS",
    "Customer",
    "TrafficProfile",
    "traffic_profile",
    "source_ip",
]

#: Relative calls per hour of the local day (00:00-01:00 first): quiet nights, a morning
#: ramp, a business-hours plateau with a lunch dip, a long evening tail.
HOURLY: tuple[float, ...] = (
    0.25, 0.15, 0.10, 0.08, 0.08, 0.12, 0.30, 0.60, 0.90, 1.00, 1.00, 0.95,
    0.80, 0.85, 0.95, 0.95, 0.90, 0.80, 0.70, 0.65, 0.60, 0.55, 0.45, 0.35,
)  # fmt: skip

#: Relative calls per local weekday, Monday first.
WEEKDAY: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 0.95, 0.65, 0.55)

#: The carriers traffic goes to unless named.
DEFAULT_CARRIERS: tuple[str, ...] = ("atlas", "borealis", "cygnus", "draco", "eridanus", "fornax")

#: Final SIP codes of calls that are not answered, with their shares.
FAILURE_CODES: dict[int, float] = {
    486: 0.26,  # Busy Here
    487: 0.25,  # Request Terminated (the caller hung up while it rang)
    480: 0.20,  # Temporarily Unavailable (no answer, phone off)
    503: 0.08,  # Service Unavailable (the carrier's network)
    404: 0.07,  # Not Found (no such number)
    408: 0.05,  # Request Timeout
    603: 0.03,  # Decline
    484: 0.02,  # Address Incomplete
    500: 0.02,  # Server Internal Error
    403: 0.02,  # Forbidden
}

#: The Asterisk-style disposition written beside each SIP code.
DISPOSITIONS: dict[int, str] = {
    200: "ANSWERED",
    486: "BUSY",
    600: "BUSY",
    603: "BUSY",
    487: "NO ANSWER",
    480: "NO ANSWER",
    408: "NO ANSWER",
    503: "CONGESTION",
    404: "FAILED",
    484: "FAILED",
    500: "FAILED",
    403: "FAILED",
}

_OFFSETS = (0, 0, 0, 1, 1, 2, 3, -5, -6, 8, 5)  # customers' UTC offsets, hours


@dataclass(frozen=True, eq=False)
class Customer:
    """One customer of the generated traffic."""

    name: str
    share: float  # of the normal calls
    utc_offset: int  # hours; its calls follow HOURLY in this local time
    trunks: tuple[str, ...]
    source_ips: tuple[str, ...]  # one per trunk
    portfolio: np.ndarray  # indices into TrafficProfile.destinations it calls
    weights: np.ndarray  # probability of each portfolio destination (sums to 1)


@dataclass(frozen=True, eq=False)
class TrafficProfile:
    """Everything generated traffic is drawn from (see the module docstring)."""

    seed: int
    destinations: tuple[Destination, ...]
    shares: np.ndarray  # the Zipf target share of each destination
    customers: tuple[Customer, ...]
    carriers: tuple[str, ...]
    routing: np.ndarray  # [destination, carrier]: share of the destination's calls
    asr: np.ndarray  # [destination, carrier]: answer-seizure ratio
    pdd_ms: np.ndarray  # [destination, carrier]: median PDD of a call that rings
    duration_sigma: float = 1.0  # of the answered call length's log
    hourly: tuple[float, ...] = HOURLY
    weekday: tuple[float, ...] = WEEKDAY

    def expected_shares(self) -> np.ndarray:
        """The share of normal calls each destination gets (customers' portfolios mixed)."""
        out = np.zeros(len(self.destinations))
        for c in self.customers:
            np.add.at(out, c.portfolio, c.share * c.weights)
        return out

    def hour_weights(self, start: int, hours: int, utc_offset: int) -> np.ndarray:
        """Relative call rate of each of ``hours`` hours from ``start`` for a customer in
        ``utc_offset``: :data:`HOURLY` at its local hour times :data:`WEEKDAY`."""
        local = start + 3600 * np.arange(hours, dtype=np.int64) + 3600 * utc_offset
        hour_of_day = (local // 3600) % 24
        weekday = (local // 86400 + 3) % 7  # 1970-01-01 was a Thursday
        return np.asarray(self.hourly)[hour_of_day] * np.asarray(self.weekday)[weekday]


def source_ip(k: int) -> str:
    """The source IP of the ``k``-th generated trunk: the RFC 5737 documentation
    networks first (762 addresses), then RFC 6598 shared address space."""
    if k < 3 * 254:
        net = ("192.0.2", "198.51.100", "203.0.113")[k // 254]
        return f"{net}.{k % 254 + 1}"
    k -= 3 * 254
    return f"100.{64 + (k >> 16) % 64}.{(k >> 8) & 255}.{k & 255}"


def traffic_profile(
    seed: int,
    *,
    customers: int = 50,
    destinations: int = 200,
    carriers: tuple[str, ...] = DEFAULT_CARRIERS,
    zipf: float = 1.0,
) -> TrafficProfile:
    """The seeded profile of :func:`tandem.sim.generate.generate_traffic`."""
    if not 1 <= destinations <= len(DESTINATIONS):
        raise ConfigError(f"destinations must be between 1 and {len(DESTINATIONS)}")
    if customers < 1:
        raise ConfigError("customers must be at least 1")
    if len(carriers) < 1 or len(set(carriers)) != len(carriers):
        raise ConfigError("carriers must be distinct names, at least one")
    rng = np.random.default_rng([seed, 0])
    dests = DESTINATIONS[:destinations]
    n = len(dests)
    shares = 1.0 / np.arange(1, n + 1) ** zipf
    shares /= shares.sum()

    weights = rng.lognormal(0.0, 1.0, customers)
    cust_share = weights / weights.sum()
    width = max(2, len(str(customers)))
    out: list[Customer] = []
    trunk_no = 0
    for i in range(customers):
        name = f"cust{i + 1:0{width}d}"
        size = cust_share[i] / cust_share.max()
        k = int(np.clip(round(n * (0.1 + 0.9 * np.sqrt(size))), min(10, n), n))
        portfolio = np.sort(rng.choice(n, size=k, replace=False, p=shares))
        tilt = rng.gamma(4.0, 0.25, k)  # mean 1: this customer's own mix
        w = shares[portfolio] * tilt
        ntrunks = int(rng.integers(1, 4))
        trunks = tuple(f"{name}-t{j + 1}" for j in range(ntrunks))
        ips = tuple(source_ip(trunk_no + j) for j in range(ntrunks))
        trunk_no += ntrunks
        offset = int(_OFFSETS[rng.integers(len(_OFFSETS))])
        out.append(
            Customer(name, float(cust_share[i]), offset, trunks, ips, portfolio, w / w.sum())
        )

    ncar = len(carriers)
    routing = np.zeros((n, ncar))
    carrier_factor = rng.uniform(0.85, 1.06, ncar)  # some carriers answer more calls
    carrier_pdd = rng.uniform(0.8, 1.3, ncar)
    for d in range(n):
        m = int(rng.integers(min(2, ncar), min(4, ncar) + 1))
        chosen = rng.choice(ncar, size=m, replace=False)
        routing[d, chosen] = rng.dirichlet(np.full(m, 1.5))
    base_asr = np.array([d.asr for d in dests])
    asr = np.clip(
        base_asr[:, None] * carrier_factor[None, :] + rng.normal(0.0, 0.03, (n, ncar)), 0.05, 0.9
    )
    base_pdd = np.array([2200.0 if d.kind == "mobile" else 1600.0 for d in dests])
    far = np.array([1.0 if d.sell_rate >= Decimal("0.05") else 0.0 for d in dests])
    pdd = (base_pdd * (1.0 + 0.5 * far))[:, None] * carrier_pdd[None, :]
    pdd *= rng.uniform(0.85, 1.15, (n, ncar))
    return TrafficProfile(
        seed=seed,
        destinations=dests,
        shares=shares,
        customers=tuple(out),
        carriers=tuple(carriers),
        routing=routing,
        asr=asr,
        pdd_ms=pdd,
    )
