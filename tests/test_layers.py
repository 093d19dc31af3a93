"""The package floors (``[tool.importlinter]`` in pyproject.toml) hold, and an import that
runs back up a floor breaks them: a module imports only from the floors below it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# import-linter reads the contract from pyproject.toml in the working directory and finds
# the package there first (it puts the working directory on sys.path).
_LINT = (
    "import sys; from importlinter.cli import lint_imports; "
    "sys.exit(lint_imports(no_logo=True, no_cache=True))"
)


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _LINT], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_the_floors_hold() -> None:
    run = _lint(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Contracts: 1 kept, 0 broken." in run.stdout


@pytest.mark.parametrize(
    ("module", "upward"),
    [
        ("errors.py", "tandem.money"),
        ("money.py", "tandem.store"),
        ("store/models.py", "tandem.decks"),
        ("decks/read.py", "tandem.rating.book"),
        ("enum/types.py", "tandem.rating.price"),  # siblings: neither imports the other
        ("rating/tariff.py", "tandem.enum.types"),
        ("lcr/table.py", "tandem.cli.main"),
    ],
)
def test_an_import_back_up_breaks_the_floors(tmp_path: Path, module: str, upward: str) -> None:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(
        ROOT / "tandem", tmp_path / "tandem", ignore=shutil.ignore_patterns("__pycache__")
    )
    target = tmp_path / "tandem" / module
    with target.open("a", encoding="utf-8") as fh:
        fh.write(f"\nimport {upward}  # noqa: E402 - an arrow running back up\n")
    run = _lint(tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    importer = "tandem." + module.removesuffix(".py").replace("/", ".")
    assert f"{importer} -> {upward}" in run.stdout, run.stdout
