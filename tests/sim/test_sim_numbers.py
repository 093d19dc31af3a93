"""Generated numbers are real-looking: valid numbers of their destination's kind, as
phonenumbers' metadata sees them; and the destination table is consistent."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tandem.fraud.highrisk_list import load_high_risk
from tandem.sim import DESTINATIONS, EXPENSIVE, PATTERNS, generate_traffic
from tandem.sim.blocks import BLOCKS

pytest.importorskip("phonenumbers")  # the test extra pins it

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import build_sim_blocks as build  # noqa: E402


def test_generated_numbers_are_valid_numbers_of_their_kind():
    kind = {d.prefix: d.kind for d in DESTINATIONS + EXPENSIVE}
    table = generate_traffic(3, calls=20_000, fraud=PATTERNS)
    checked = 0
    for number, dest in zip(
        table.column("number").to_pylist(), table.column("destination").to_pylist(), strict=True
    ):
        if dest in kind:  # high-risk ranges are drawn anywhere in the range
            assert build.good(number, kind[dest]), (number, dest, kind[dest])
            checked += 1
    assert checked >= 20_000


def test_destination_table_is_consistent():
    prefixes = [d.prefix for d in DESTINATIONS + EXPENSIVE]
    assert len(prefixes) == len(set(prefixes)) == 299
    # no range inside another: a generated number belongs to one destination
    assert not [(a, b) for a in prefixes for b in prefixes if a != b and b.startswith(a)]
    high_risk = load_high_risk()
    assert not [p for p in prefixes if high_risk.lookup(p) is not None]
    assert all(d.prefix in BLOCKS for d in DESTINATIONS + EXPENSIVE)
    assert all(len(d.prefix) + 3 <= d.length <= 15 for d in DESTINATIONS + EXPENSIVE)
    assert max(d.sell_rate for d in DESTINATIONS) < min(d.sell_rate for d in EXPENSIVE)


@pytest.mark.slow
def test_blocks_are_what_the_script_builds(tmp_path, monkeypatch):
    shipped = build.OUT.read_text()
    monkeypatch.setattr(build, "OUT", tmp_path / "blocks.py")
    assert build.main() == 0
    assert (tmp_path / "blocks.py").read_text() == shipped
