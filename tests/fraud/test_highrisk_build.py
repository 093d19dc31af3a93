"""The high-risk list is built correctly from phonenumbers' metadata (scripts/build_high_risk.py).

Property tests: the regex automata agree with Python's ``re`` on every metadata pattern;
the prefix expansion is sound against a brute-force enumeration of small numbering plans;
every listed prefix, completed at random to its length, is classified by phonenumbers
as its kind, and no number under it of another length is a valid number of another type.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

phonenumbers = pytest.importorskip("phonenumbers")  # the test extra pins it

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import build_high_risk as build  # noqa: E402

from tandem.fraud.highrisk_list import DEFAULT_HIGH_RISK_PATH, load_high_risk  # noqa: E402

TYPES = {
    phonenumbers.PhoneNumberType.PREMIUM_RATE: "premium_rate",
    phonenumbers.PhoneNumberType.SHARED_COST: "shared_cost",
}
DERIVED = [r for r in load_high_risk() if r.source.startswith("phonenumbers")]


def _all_patterns() -> list[str]:
    out = set()
    for region in phonenumbers.SUPPORTED_REGIONS:
        md = phonenumbers.PhoneMetadata.metadata_for_region(region)
        for name in ("general_desc", *build.TYPE_ORDER):
            desc = getattr(md, name)
            if desc is not None and desc.national_number_pattern:
                out.add(desc.national_number_pattern)
    return sorted(out)


PATTERNS = _all_patterns()


def test_the_list_records_the_phonenumbers_version_it_was_built_with():
    head = DEFAULT_HIGH_RISK_PATH.read_text().splitlines()[:6]
    assert any(f"phonenumbers {phonenumbers.__version__} " in line for line in head)
    assert len(DERIVED) > 500
    assert {r.kind for r in DERIVED} == {"premium_rate", "shared_cost"}


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(pattern=st.sampled_from(PATTERNS), digits=st.text("0123456789", max_size=13))
def test_automaton_matches_like_python_re(pattern, digits):
    matcher = build.Matcher(pattern, ())
    assert matcher.check(digits) == (re.fullmatch(pattern, digits) is not None)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(row=st.sampled_from(DERIVED), data=st.data())
def test_every_listed_prefix_completed_to_its_length_is_of_its_kind(row, data):
    tail = data.draw(
        st.text(
            "0123456789",
            min_size=row.length - len(row.prefix),
            max_size=row.length - len(row.prefix),
        )
    )
    number = phonenumbers.parse("+" + row.prefix + tail)
    assert TYPES.get(phonenumbers.number_type(number)) == row.kind, (row, tail)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(row=st.sampled_from(DERIVED), data=st.data())
def test_no_number_under_a_listed_prefix_is_valid_as_another_type(row, data):
    extra = data.draw(st.integers(0, 15 - len(row.prefix)))
    tail = data.draw(st.text("0123456789", min_size=extra, max_size=extra))
    try:
        number = phonenumbers.parse("+" + row.prefix + tail)
    except phonenumbers.NumberParseException:
        return  # too short or too long to be any number at all
    kind = phonenumbers.number_type(number)
    assert kind in (
        phonenumbers.PhoneNumberType.UNKNOWN,
        *[k for k, v in TYPES.items() if v == row.kind],
    ), (row, tail)


def _plan(general: str, lengths: tuple[int, ...], **types: str):
    desc = lambda p: SimpleNamespace(national_number_pattern=p, possible_length=())  # noqa: E731
    md = SimpleNamespace(
        general_desc=SimpleNamespace(national_number_pattern=general, possible_length=lengths)
    )
    for name in build.TYPE_ORDER:
        setattr(md, name, desc(types[name]) if name in types else None)
    return md


PLANS = [
    _plan(r"\d{3,4}", (3, 4), premium_rate=r"9[0-4]\d{2}", fixed_line=r"[1-8]\d{2,3}"),
    _plan(r"\d{4}", (4,), premium_rate=r"9(?:0\d|1[2-5])\d", fixed_line=r"[2-8]\d{3}|91[6-9]\d"),
    _plan(r"\d{3,4}", (3, 4), premium_rate=r"90\d{2}", fixed_line=r"90\d"),  # clash by length
    _plan(
        r"\d{2,4}",
        (2, 3, 4),
        shared_cost=r"8[45]\d{1,2}",
        premium_rate=r"84[0-2]\d",
        mobile=r"7\d{2}",
    ),
]


def _classify(md, number: str) -> str | None:
    g = md.general_desc
    if len(number) not in g.possible_length or not re.fullmatch(g.national_number_pattern, number):
        return None
    for name in build.TYPE_ORDER:
        desc = getattr(md, name)
        if desc is not None and re.fullmatch(desc.national_number_pattern, number):
            return name
    return None


@pytest.mark.parametrize("md", PLANS)
@pytest.mark.parametrize("target", ["premium_rate", "shared_cost"])
def test_expansion_is_sound_against_brute_force(md, target):
    found = build.Expansion(md, target).prefixes(10_000)
    assert found is not None
    numbers = [
        "".join(t)
        for n in md.general_desc.possible_length
        for t in itertools.product("0123456789", repeat=n)
    ]
    for prefix, length in found:
        under = [n for n in numbers if n.startswith(prefix)]
        assert all(_classify(md, n) == target for n in under if len(n) == length)
        assert all(_classify(md, n) in (None, target) for n in under)
    # complete where the plan allows: every target number at a length where its whole
    # shortest-prefix block is clean is covered
    covered = [n for n in numbers if any(n.startswith(p) for p, _ in found)]
    targets = [n for n in numbers if _classify(md, n) == target]
    if md is PLANS[0] and target == "premium_rate":
        assert sorted(p for p, _ in found) == ["90", "91", "92", "93", "94"]
        assert set(targets) <= set(covered)
    if md is PLANS[2] and target == "premium_rate":
        # 90x is fixed at length 3, 90xx premium at 4: only whole numbers are safe prefixes
        assert found == [(f"90{i:02d}", 4) for i in range(100)]


def test_writes_a_csv_the_loader_reads(tmp_path, monkeypatch):
    rows = [
        ("979", "premium_rate", "001", 12, "tandem policy: a, b"),
        ("4490", "premium_rate", "GB", 12, "phonenumbers x"),
    ]
    monkeypatch.setattr(build, "build", lambda: (rows, ["XX +0 premium_rate: left out"]))
    out = tmp_path / "hr.csv"
    assert build.main(["--out", str(out)]) == 0
    text = out.read_text()
    assert "# XX +0 premium_rate: left out" in text
    loaded = load_high_risk(out)
    assert loaded.lookup("979123456789").source == "tandem policy: a, b"
    body = [r for r in csv.reader(io.StringIO(text)) if r and not r[0].startswith("#")]
    assert body[0] == ["prefix", "kind", "country", "length", "source"]


@pytest.mark.slow
def test_the_shipped_list_is_what_the_script_builds(tmp_path):
    out = tmp_path / "hr.csv"
    assert build.main(["--out", str(out)]) == 0
    assert out.read_text() == DEFAULT_HIGH_RISK_PATH.read_text()
