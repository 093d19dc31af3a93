"""The command line's structure: one registry, no import circle, the global options on every
leaf command, and a ``tandem --help`` that imports none of the heavy libraries."""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import tandem.cli
from tandem.cli.context import CliContext
from tandem.cli.main import cli
from tandem.store import Store

ROOT = Path(__file__).resolve().parents[1]

#: Libraries a command may need but ``tandem --help`` must not import.
HEAVY = ("pandas", "pyarrow", "numpy", "sqlalchemy", "alembic", "openpyxl", "rich", "dns")


def leaves(
    group: click.Group, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every runnable command under ``group`` with the words that call it."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            yield from leaves(command, (*path, name))
        else:
            yield (*path, name), command


LEAVES = sorted(leaves(cli), key=lambda leaf: leaf[0])


def test_the_walk_finds_every_area():
    paths = {path for path, _ in LEAVES}
    expected = {
        ("demo",), ("deck", "import"), ("deck", "export"), ("route",), ("compile",), ("rate",),
        ("enum", "lookup"), ("enum", "import"), ("db", "upgrade"),
    }  # fmt: skip
    assert expected <= paths


def _required_args(command: click.Command) -> list[str]:
    """Words that satisfy the command's required parameters ("1" is a valid instant, number,
    count and file name; the test makes a file named 1)."""
    words: list[str] = []
    for param in command.params:
        if not param.required:
            continue
        value = param.type.choices[0] if isinstance(param.type, click.Choice) else "1"
        if isinstance(param, click.Option):
            words += [param.opts[0], str(value)]
        else:
            words.append(str(value))
    return words


@pytest.mark.parametrize(("path", "command"), LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_db_and_quiet_after_every_leaf_command(path, command, tmp_path, monkeypatch):
    """--db and -q/--quiet go before or after the subcommand; the one after wins."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "1").write_text("", encoding="utf-8")
    seen: list[tuple[str | None, bool]] = []

    def record(**_kwargs: object) -> None:
        obj = click.get_current_context().find_object(CliContext)
        assert obj is not None
        seen.append((obj.db, obj.quiet))

    monkeypatch.setattr(command, "callback", record)
    required = _required_args(command)
    runner = CliRunner(env={"TANDEM_DB": "env.db"})
    cases = [
        ([*path, *required], ("env.db", False)),
        (["--db", "before.db", "-q", *path, *required], ("before.db", True)),
        (["--db", "before.db", *path, *required, "--db", "after.db", "-q"], ("after.db", True)),
        ([*path, "--db", "after.db", "--quiet", *required], ("after.db", True)),
        (["-q", *path, *required, "--db", "after.db"], ("after.db", True)),
    ]
    for args, expected in cases:
        seen.clear()
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, (args, result.output, result.exception)
        assert seen == [expected], args


def test_deck_import_with_options_after_the_subcommand(tmp_path):
    """The issue's example: ``tandem deck import FILE --carrier X -q`` was refused."""
    before, after = tmp_path / "before.db", tmp_path / "after.db"
    result = CliRunner().invoke(
        cli,
        ["--db", str(before), "deck", "import", str(ROOT / "data/decks/atlas.csv"),
         "--carrier", "atlas", "-q", "--db", str(after)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [(d.account, d.kind) for d in Store(after).decks()] == [("atlas", "carrier")]
    assert not before.exists()


def _cli_modules() -> list[str]:
    return [f"tandem.cli.{m.name}" for m in pkgutil.iter_modules(tandem.cli.__path__)]


def test_no_command_module_imports_main():
    """main imports the command modules, never the reverse (no import circle)."""
    for name in _cli_modules():
        if name == "tandem.cli.main":
            continue
        source = Path(importlib.import_module(name).__file__).read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom):
                assert node.module != "tandem.cli.main", name
                assert not (
                    node.module == "tandem.cli" and any(a.name == "main" for a in node.names)
                ), name
            elif isinstance(node, ast.Import):
                assert all(a.name != "tandem.cli.main" for a in node.names), name


def test_every_command_defined_is_registered():
    """A command object defined in a cli module but missing from main.COMMANDS fails here."""
    reachable: set[int] = set()

    def walk(command: click.Command) -> None:
        reachable.add(id(command))
        if isinstance(command, click.Group):
            for sub in command.commands.values():
                walk(sub)

    walk(cli)
    for name in _cli_modules():
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if isinstance(value, click.Command):
                assert id(value) in reachable, f"{name}.{attr} is not reachable from tandem"


_IMPORTS_AFTER_HELP = """
import json, runpy, sys
import click
from tandem.cli.main import cli

def paths(group, path):
    yield path
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from paths(command, [*path, name])
        else:
            yield [*path, name]

sys.argv = ["tandem", "--help"]
try:
    runpy.run_module("tandem", run_name="__main__")
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
for path in paths(cli, []):
    assert cli.main([*path, "--help"], prog_name="tandem", standalone_mode=False) == 0, path
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def test_help_imports_no_heavy_library():
    """``tandem --help`` (and every command's --help) loads no pandas, pyarrow, numpy,
    SQLAlchemy, ...: they load when a command runs."""
    done = subprocess.run(
        [sys.executable, "-c", _IMPORTS_AFTER_HELP],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Usage: tandem" in done.stdout
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "click" in loaded and "tandem" in loaded
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))
