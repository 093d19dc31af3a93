"""The vectorised (Arrow RE2) reading of CDR time texts gives the answers of the pandas
(Python ``re``) path on every ASCII text."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.rating.cdr import time_text_flags

FORMS = st.sampled_from([
    "2026-11-02 10:00:00", "2026-11-02T09:00:00Z", "2026-11-02T09:00:00+01:00",
    "2026-11-02 09:00:00.123456789", "2026-11-02", "1793610000", "179361000", "12345678901",
    "2026-11-02T09:00:00+0100", "2259-12-31 23:59", "2260-01-01", "1969-12-31", "",
])  # fmt: skip
PIECES = st.text(alphabet="0123456789-:TZ +.,/\t\n", max_size=30)


@settings(max_examples=400, deadline=None)
@given(texts=st.lists(st.one_of(FORMS, PIECES, st.tuples(FORMS, PIECES).map("".join)), max_size=30))
def test_arrow_flags_equal_the_python_re_flags_on_ascii(texts):
    trimmed = pc.utf8_trim_whitespace(pa.array(texts, pa.string()))
    s = pd.Series(trimmed.to_pandas(), dtype=object)
    s = s.where(s.notna(), "")
    fast = time_text_flags(trimmed, s, arrow=True)
    slow = time_text_flags(trimmed, s, arrow=False)
    for a, b in zip(fast, slow, strict=True):
        assert np.array_equal(a, b)
