"""The HTML report page: self-contained, tables exact as given, charts as inline SVG, and
it renders in headless Chromium with the same numbers."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from page_helpers import rendered

from tandem.htmlreport import ReportPage, read_tables


def _page() -> ReportPage:
    page = ReportPage("Simulation <test>", "seed 7 & friends")
    page.paragraph("Calls carried per carrier per hour.")
    share = pd.DataFrame(
        {
            "hour": ["2026-11-01 00:00"] * 2 + ["2026-11-01 01:00"] * 2,
            "carrier": ["atlas", "borealis", "atlas", "borealis"],
            "calls": [10, 5, 0, 12],
        }
    )
    page.line_chart("Calls per carrier", share, "hour", "carrier", "calls", key="share")
    margin = pd.DataFrame({"destination": ["UK", "DE mobile"], "margin": ["12.3456", "-0.0061"]})
    page.bar_chart("Margin by destination", margin, "destination", "margin", key="margin")
    totals = pd.DataFrame({"cost": ["1000000000000000000.000000001"], "x": [None]})
    page.table("Totals", totals, "totals")
    return page


def test_a_page_is_self_contained_and_its_tables_read_back(tmp_path) -> None:
    path = _page().write(tmp_path / "report.html")
    text = path.read_text(encoding="utf-8")
    assert text.count("<svg") == 2
    for fetch in ('src="http', "src='http", 'href="http', "url(http", "@import"):
        assert fetch not in text  # nothing fetched from a network
    assert "<script" not in text
    assert "Simulation &lt;test&gt;" in text
    tables = read_tables(text)
    assert tables["margin"] == [
        {"destination": "UK", "margin": "12.3456"},
        {"destination": "DE mobile", "margin": "-0.0061"},
    ]
    assert tables["totals"] == [{"cost": "1000000000000000000.000000001", "x": ""}]
    assert [r["calls"] for r in tables["share"]] == ["10", "5", "0", "12"]


def test_the_same_data_writes_the_same_page(tmp_path) -> None:
    assert _page().html() == _page().html()


def test_a_key_is_used_once() -> None:
    page = ReportPage("t")
    page.table("a", pd.DataFrame({"a": [1]}), "k")
    with pytest.raises(ValueError, match="'k' used twice"):
        page.table("b", pd.DataFrame({"a": [1]}), "k")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=12), min_size=1, max_size=6))
def test_any_cell_text_reads_back_unchanged(cells) -> None:
    page = ReportPage("t")
    page.table("c", pd.DataFrame({"v": cells}), "k")
    assert [r["v"] for r in read_tables(page.html())["k"]] == cells


def test_the_page_renders_in_headless_chromium_with_the_same_numbers(tmp_path) -> None:
    page = _page()
    path = page.write(tmp_path / "report.html")
    dom = rendered(path)
    assert read_tables(dom) == read_tables(page.html())
    assert dom.count("<svg") == 2
