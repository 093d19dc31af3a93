"""Fixtures of the Kamailio end-to-end tests: a routing table and config on disk."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tandem.lcr import compile_rates

MILLI = 10**6  # 0.001 in scaled money
UNTIL = 4_102_444_800  # 2100-01-01


def rates_frame(rows: list[tuple[str, str, str, int]]) -> pd.DataFrame:
    """A rate frame (account, kind, prefix, rate in thousandths) valid from 1970 to 2100."""
    return pd.DataFrame(
        [(a, k, p, r * MILLI) for a, k, p, r in rows],
        columns=["account", "kind", "prefix", "rate"],
    ).assign(currency="USD", connect_fee=0, initial_increment=30, next_increment=6,
             min_duration=0, effective_from=0, effective_until=UNTIL)  # fmt: skip


BASE_RATES = [
    ("atlas", "carrier", "44", 8),
    ("borealis", "carrier", "4420", 5),
    ("cygnus", "carrier", "4420", 7),
    ("cygnus", "carrier", "33", 9),
    ("atlas", "carrier", "49", 6),
    ("borealis", "carrier", "49", 4),
    ("borealis", "carrier", "881", 60),
    ("acme", "customer", "44", 12),
    ("acme", "customer", "49", 10),
    ("acme", "customer", "881", 90),
    ("acme", "customer", "33", 4),
    ("beta", "customer", "44", 20),
    ("beta", "customer", "49", 5),
]
#: The same carriers with other rates: every order changes (for the reload tests).
SWAPPED_RATES = [
    ("atlas", "carrier", "44", 3),
    ("borealis", "carrier", "4420", 9),
    ("cygnus", "carrier", "4420", 4),
    ("cygnus", "carrier", "33", 2),
    ("atlas", "carrier", "49", 2),
    ("borealis", "carrier", "49", 7),
    ("borealis", "carrier", "881", 60),
    ("acme", "customer", "44", 12),
    ("acme", "customer", "49", 10),
    ("acme", "customer", "881", 90),
    ("acme", "customer", "33", 4),
    ("beta", "customer", "44", 20),
    ("beta", "customer", "49", 5),
]

ROUTING = """\
[defaults]
blocked = ["881"]

[carriers.atlas]
trunk = "sip:gw1.atlas.example.net"

[carriers.borealis]
trunk = "edge.borealis.example.com:5070"

[carriers.cygnus]
trunk = "sip:203.0.113.50:5060;transport=udp"

[customers.acme.trunks.local]
ips = ["127.0.0.1"]
"""


def save_table(path: Path, rows: list[tuple[str, str, str, int]]) -> Path:
    """Compile ``rows`` and write the snapshot atomically to ``path``."""
    compile_rates(rates_frame(rows), 0).save(path)
    return path


@pytest.fixture
def routing(tmp_path: Path) -> tuple[Path, Path]:
    """``(routes.tdm, routing.toml)`` of the base rates."""
    table = save_table(tmp_path / "routes.tdm", BASE_RATES)
    config = tmp_path / "routing.toml"
    config.write_text(ROUTING)
    return table, config
