"""The time arithmetic every :class:`~tandem.state.protocol.Counters` implementation shares.

Sliding windows are made of buckets of ``step`` seconds: ``bucket(t) = floor(t / step)``;
the total of a window of ``window`` seconds at ``t`` is the sum of the amounts added with a
bucket in ``(bucket(t) - window // step, bucket(t)]``. Series buckets (quality samples) start
at ``floor(at / bucket) * bucket`` and are dropped once their start is more than ``keep``
seconds before the latest instant recorded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = [
    "bucket_of", "check_fields", "check_ttl", "series_cutoff", "series_start", "window_buckets",
]  # fmt: skip


def window_buckets(window: int, step: int) -> int:
    """How many buckets of ``step`` seconds a window of ``window`` seconds spans; the step
    must be a positive whole number of seconds that divides the window."""
    if type(step) is not int or step <= 0:
        raise ValueError(f"window step must be a positive whole number of seconds, not {step!r}")
    if type(window) is not int or window < step or window % step:
        raise ValueError(f"window must be a whole multiple of its step ({step} s), not {window!r}")
    return window // step


def bucket_of(at: float, step: int) -> int:
    """The bucket number of instant ``at``: ``floor(at / step)``."""
    return math.floor(at / step)


def series_start(at: float, bucket: int) -> int:
    """The start (epoch seconds) of the series bucket of ``bucket`` seconds holding ``at``."""
    if type(bucket) is not int or bucket <= 0:
        raise ValueError(
            f"series bucket must be a positive whole number of seconds, not {bucket!r}"
        )
    return math.floor(at / bucket) * bucket


def series_cutoff(at: float, keep: int) -> float:
    """Series buckets starting before this instant are dropped when recording at ``at``."""
    if keep < 0:
        raise ValueError(f"series keep must be >= 0 seconds, not {keep!r}")
    return at - keep


def check_ttl(ttl: float, what: str = "ttl") -> float:
    """``ttl`` as a float, refused unless it is a positive finite number of seconds."""
    value = float(ttl)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a positive number of seconds, not {ttl!r}")
    return value


def check_fields(fields: Mapping[str, int]) -> None:
    """Refuse series field names holding a tab or a line break, and amounts that are not
    whole numbers."""
    for name, amount in fields.items():
        if "\t" in name or "\n" in name:
            raise ValueError(f"series field name {name!r} must not hold a tab or a line break")
        if type(amount) is not int:
            raise ValueError(f"series field {name!r} must be a whole number, not {amount!r}")
