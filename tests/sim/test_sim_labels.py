"""Backtest scores: precision and recall of per-call alerts against planted labels."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tandem.errors import ConfigError
from tandem.sim import label_metrics

LABELS = ["", "cps", "cps", "", "wangiri", "long_call", "high_risk", "quality_collapse", ""]


def test_counts_and_ratios_by_hand():
    alerted = {
        "cps": [False, True, False, True, True, False, False, False, False],
        "high_risk": [False, False, False, False, False, True, True, False, False],
        "wangiri": [False] * 9,
        "spend": [False, False, False, False, False, False, False, True, False],
    }
    scores = label_metrics(alerted, pa.array(LABELS))
    cps = scores["cps"]
    assert (cps.alerted, cps.planted, cps.true_positive, cps.false_positive, cps.other) == (
        3,
        2,
        1,
        1,
        1,
    )
    assert cps.precision == Decimal("0.5000") and cps.recall == Decimal("0.5000")
    hr = scores["high_risk"]  # long_call calls go to high-risk ranges: the rule's to catch
    assert hr.expected == ("high_risk", "long_call")
    assert (hr.true_positive, hr.planted, hr.precision, hr.recall) == (2, 2, 1, 1)
    w = scores["wangiri"]
    assert w.precision is None and w.recall == Decimal("0.0000")
    sp = scores["spend"]  # an alert on a collapsed carrier's call is no fraud
    assert sp.false_positive == 1 and sp.planted == 0 and sp.recall is None
    assert sp.as_dict()["precision"] == "0.0000"


def test_inputs_of_any_shape_and_a_custom_expectation():
    flags = np.array([False, True, True, False, False, False, False, False, False])
    for labels in (
        LABELS,
        np.array(LABELS),
        pa.chunked_array([LABELS[:4], LABELS[4:]]),
        pa.array(LABELS).dictionary_encode(),
    ):
        s = label_metrics({"burst": flags}, labels, expected={"burst": ["cps"]})["burst"]
        assert (s.true_positive, s.precision, s.recall) == (2, Decimal("1.0000"), 1)


def test_wrong_length_is_refused():
    with pytest.raises(ConfigError, match="3 alert flags for 9"):
        label_metrics({"cps": [True, False, True]}, LABELS)


@given(
    st.lists(
        st.tuples(st.sampled_from(["", "a", "b", "quality_collapse"]), st.booleans()), max_size=60
    )
)
def test_against_a_brute_force_count(rows):
    labels = [label for label, _ in rows]
    flags = [flag for _, flag in rows]
    s = label_metrics({"a": flags}, labels)["a"]
    tp = sum(1 for label, f in rows if f and label == "a")
    fp = sum(1 for label, f in rows if f and label in ("", "quality_collapse"))
    planted = sum(1 for label, _ in rows if label == "a")
    assert (s.true_positive, s.false_positive, s.planted) == (tp, fp, planted)
    assert s.other == sum(flags) - tp - fp
    assert s.precision == (
        None if tp + fp == 0 else (Decimal(tp) / (tp + fp)).quantize(Decimal("0.0001"))
    )
