"""``TANDEM_NATIVE=0``: the one switch that turns off every optional C extension."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tandem.fraud import windows
from tandem.rating import fastrate
from tandem.state import memory

_PROBE = """
import json
from tandem.fraud import windows
from tandem.rating import fastrate
from tandem.state.memory import MemoryCounters
print(json.dumps({
    "rating": fastrate.NATIVE,
    "scan": windows.native_in_use(),
    "counters": MemoryCounters()._native is not None,
    "counters_forced": MemoryCounters(native=True)._native is not None,
}))
"""

BUILT = fastrate.BUILT and windows.NATIVE and memory.NATIVE


def _probe(value: str | None) -> dict[str, bool]:
    env = dict(os.environ)
    env.pop("TANDEM_NATIVE", None)
    if value is not None:
        env["TANDEM_NATIVE"] = value
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out)


@pytest.mark.skipif(not BUILT, reason="C extensions not built (setup.py build_ext)")
def test_extensions_run_by_default() -> None:
    assert _probe(None) == {"rating": True, "scan": True, "counters": True, "counters_forced": True}
    assert _probe("1")["scan"] is True


@pytest.mark.skipif(not BUILT, reason="C extensions not built (setup.py build_ext)")
def test_one_switch_turns_every_extension_off() -> None:
    # an explicit MemoryCounters(native=True) still asks for C: the switch sets defaults
    assert _probe("0") == {
        "rating": False,
        "scan": False,
        "counters": False,
        "counters_forced": True,
    }
