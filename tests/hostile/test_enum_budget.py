"""``tandem enum lookup --budget-ms``: a budget that is not a finite, positive, bounded
number of milliseconds is refused on one line naming the option (it used to be reported
as a malformed DNS answer, or accepted with ``nan``/``inf``)."""

from __future__ import annotations

import pytest

from tests.hostile.conftest import run_refused


@pytest.mark.parametrize("budget", ["inf", "-inf", "nan", "0", "-5", "60001", "1e300"])
def test_bad_budget_is_refused(db, budget):
    run_refused(
        ["enum", "lookup", "+4420", "--server", "127.0.0.1:1", f"--budget-ms={budget}"],
        db,
        names=["--budget-ms", "milliseconds"],
    )
