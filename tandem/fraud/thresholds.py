"""Warning and critical thresholds, and the one grading every rule uses.

A rule measures a value for a call (calls in a window, calls in progress, money spent...)
and grades it: above ``critical`` the call is **blocked**, else above ``warning`` it is
**flagged**, else **allowed**. Either threshold may be absent (``None``): that level never
fires. The live engine (:class:`tandem.fraud.FraudEngine`) and the vectorised scan
(:func:`tandem.fraud.scanner`, with the same comparisons over arrays) read their levels here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ACTIONS", "NEVER", "Action", "Thresholds", "action_code"]

Action = Literal["allow", "flag", "block"]
#: Actions by severity; a decision takes the most severe of its rules' verdicts.
ACTIONS: tuple[Action, Action, Action] = ("allow", "flag", "block")
_CODE = {"allow": 0, "flag": 1, "block": 2}
#: Stands for an absent threshold in integer arrays: no measured value exceeds it.
NEVER = 2**62


def action_code(action: str) -> int:
    """0 for allow, 1 for flag, 2 for block."""
    return _CODE[action]


@dataclass(frozen=True)
class Thresholds:
    """``value > critical`` blocks, ``value > warning`` flags; ``None`` never fires.

    Values are whole numbers (calls, scaled-integer money) or, for the velocity factors,
    plain numbers (a factor is not money).
    """

    warning: int | float | None = None
    critical: int | float | None = None

    @property
    def active(self) -> bool:
        """Whether either level can fire."""
        return self.warning is not None or self.critical is not None

    def grade(self, value: int | float) -> int:
        """0 (allow), 1 (flag) or 2 (block) for a measured value."""
        if self.critical is not None and value > self.critical:
            return 2
        if self.warning is not None and value > self.warning:
            return 1
        return 0

    def crossed(self, code: int) -> int | float | None:
        """The threshold a grade ``code`` crossed (None for allow)."""
        return self.critical if code == 2 else self.warning if code == 1 else None
