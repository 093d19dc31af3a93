"""The HTTP API's per-request fast paths give what the plain code gives: the query
parser is ``urllib.parse.parse_qsl`` with the API's settings, ``rtjson_text`` is
``json.dumps(rtjson(...))`` (carriers' trunks of every shape, odd names, on-net routes),
the response heads are those written out in full, and a table swap leaves no reference
cycle behind (the servers move the heap out of the collector's walks with ``gc.freeze``)."""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))

import serve_helpers as h  # noqa: E402

from tandem.lcr.policy import config_from_mapping  # noqa: E402
from tandem.lcr.router import Router  # noqa: E402
from tandem.lcr.table import RoutingTable  # noqa: E402
from tandem.serve import http  # noqa: E402
from tandem.serve.answer import contacts, redirect_text  # noqa: E402
from tandem.serve.rtjson import rtjson, rtjson_text  # noqa: E402

QUERY_CHARS = st.sampled_from(
    list("ab=&%+2B0F9xé ;\x00") + ["%2B", "%2b", "=%2B", "%C3%A9", "%FF", "%", "=="]
)


def reference_pairs(query: str) -> list[tuple[str, str]]:
    """The query parser the API used before its fast path."""
    return parse_qsl(
        query, keep_blank_values=True, strict_parsing=False, errors="strict", max_num_fields=16
    )


@settings(max_examples=400, deadline=None)
@given(st.lists(QUERY_CHARS, max_size=40).map("".join))
def test_query_pairs_is_parse_qsl(query: str) -> None:
    try:
        want: object = reference_pairs(query)
    except (ValueError, UnicodeDecodeError) as exc:
        want = (type(exc), str(exc))
    try:
        got: object = http.query_pairs(query)
    except (ValueError, UnicodeDecodeError) as exc:
        got = (type(exc), str(exc))
    assert got == want


def test_query_pairs_field_limit() -> None:
    assert len(http.query_pairs("&".join(["a=1"] * 16))) == 16
    with pytest.raises(ValueError, match="Max number of fields"):
        http.query_pairs("&".join(["a=1"] * 17))


TRUNKS = st.one_of(
    st.sampled_from([
        "sip:gw1.atlas.example.net", "sips:gw.x.example:5061;transport=tls", "203.0.113.50",
        "sip:user@gw.example.net", "<sip:gw.example.net>", "sip:", "SIP:GW.EXAMPLE.NET",
        'sip:"quoted"\\host', "sip:gw.example.net;lr",
    ]),
    st.text(min_size=1, max_size=20).filter(lambda t: t.strip() != "" and "\x00" not in t),
)  # fmt: skip
IDS = st.one_of(st.sampled_from(["1f-2", "abc123-ff", "0-0"]), st.text(max_size=12))


@pytest.fixture(scope="module")
def table() -> RoutingTable:
    return h.table()


def _decision(table: RoutingTable, trunks: tuple[str, str, str], number: str):
    """The decision for ``number`` with atlas, borealis and cygnus on ``trunks``."""
    config = config_from_mapping(
        {"carriers": {name: {"trunk": trunk} for name, trunk in
                      zip(("atlas", "borealis", "cygnus"), trunks, strict=True)}}
    )  # fmt: skip
    return Router(table, plan=config).route(number, customer="acme", at=1)


def _routed(test):
    """``test`` over random trunks, numbers (routed and not) and decision ids."""
    return settings(
        max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )(
        given(
            trunks=st.tuples(TRUNKS, TRUNKS, TRUNKS),
            number=st.sampled_from(sorted(h.EXPECTED_CODES)[:-1] + ["+4420123", "+1555"]),
            decision_id=IDS,
        )(test)
    )


@_routed
def test_rtjson_text_is_the_dumped_rtjson(table, trunks, number, decision_id) -> None:
    decision = _decision(table, trunks, number)
    assert rtjson_text(decision, decision_id) == json.dumps(rtjson(decision, decision_id))


@_routed
def test_redirect_text_is_the_contacts_as_lines(table, trunks, number, decision_id) -> None:
    """format=sip's 302 (one line per route from cached pieces) holds exactly the Contact
    values tandem serve sip answers with."""
    decision = _decision(table, trunks, number)
    lines = "".join(f"Contact: {c}\r\n" for c in contacts(decision, decision_id))
    assert redirect_text(decision, decision_id) == "302 Moved Temporarily\r\n" + lines


@pytest.mark.parametrize("status", [200, 404, 422, 503])
@pytest.mark.parametrize("close", [False, True])
def test_cached_heads_are_the_written_ones(status: int, close: bool) -> None:
    for length in (0, 7, 1166, 65536):
        want = http._head_text(status, http.JSON_TYPE, str(length), (), close).encode()
        assert http._head(status, http.JSON_TYPE, length, (), close) == want
    extra = ("X-Tandem-Decision: ab-1",)
    assert (
        http._head(status, http.JSON_TYPE, 5, extra, close)
        == http._head_text(status, http.JSON_TYPE, "5", extra, close).encode()
    )


def test_a_table_swap_leaves_no_cycle(tmp_path: Path) -> None:
    path, config = h.write_files(tmp_path)
    router = Router(RoutingTable.load(path), plan=config_from_mapping({}))
    for number in ("+442079460000", "+881612345678"):
        router.route(number, customer="acme", at=1)
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            router.swap(RoutingTable.load(path))
            for number in ("+442079460000", "+4930123456", "+999123"):
                router.route(number, customer="acme", at=1)
        assert gc.collect() == 0  # every dropped table was freed by its reference counts
    finally:
        gc.enable()
