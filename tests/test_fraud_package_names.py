"""The names ``tandem.fraud`` exports stay what they are whatever was imported first.

A submodule named like an exported function (``tandem.fraud.scan`` beside the function
``scan``) replaced the function on the package once the submodule was imported, so
``from tandem.fraud import scan`` returned a module in one order and a function in another.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_every_export_is_the_same_object_after_every_submodule_is_imported() -> None:
    # a fresh interpreter: the order of imports is the point, and this process has them all
    code = textwrap.dedent(
        """
        import importlib, pkgutil, types
        import tandem.fraud as fraud
        for info in pkgutil.iter_modules(fraud.__path__):
            importlib.import_module("tandem.fraud." + info.name)
        bad = [n for n in fraud.__all__ if isinstance(getattr(fraud, n), types.ModuleType)]
        assert not bad, bad
        from tandem.fraud import backtest, scan
        assert callable(scan) and callable(backtest)
        assert scan.__module__ == "tandem.fraud.scanner"
        assert backtest.__module__ == "tandem.fraud.backtesting"
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_no_submodule_shares_a_name_with_an_export() -> None:
    import pkgutil

    import tandem.fraud as fraud

    submodules = {info.name for info in pkgutil.iter_modules(fraud.__path__)}
    assert not submodules & set(fraud.__all__)
