"""All SQL lives in the store: no module outside ``tandem/store`` imports SQLAlchemy or
Alembic, and the store imports nothing of Tandem above it (it sits on errors, money,
instants and numbers). import-linter checks the floors too; this also sees SQLAlchemy."""

from __future__ import annotations

import ast
from pathlib import Path

import tandem

PACKAGE = Path(tandem.__file__).parent
STORE = PACKAGE / "store"
SQL_LIBRARIES = ("sqlalchemy", "alembic")
#: What the store may import of Tandem: the floors below it, and itself.
STORE_MAY_IMPORT = (
    "tandem.errors",
    "tandem.money",
    "tandem.instant",
    "tandem.numbers",
    "tandem.store",
)


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports (top level or inside functions), with its line."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}:{node.lineno}: a relative import; Tandem's are absolute")
    return found


def _is(module: str, names: tuple[str, ...]) -> bool:
    return any(module == n or module.startswith(n + ".") for n in names)


def _modules(root: Path) -> list[Path]:
    return sorted(root.rglob("*.py"))


def test_no_sql_library_outside_the_store():
    outside = [p for p in _modules(PACKAGE) if STORE not in p.parents]
    assert len(outside) > 20  # the walk sees the package
    offenders = [
        f"{p.relative_to(PACKAGE.parent)}:{line}: imports {module}"
        for p in outside
        for line, module in _imports(p)
        if _is(module, SQL_LIBRARIES)
    ]
    assert offenders == [], "SQL belongs in tandem/store:\n" + "\n".join(offenders)


def test_the_store_imports_nothing_above_it():
    inside = _modules(STORE)
    assert any(p.name == "store.py" for p in inside)
    offenders = [
        f"{p.relative_to(PACKAGE.parent)}:{line}: imports {module}"
        for p in inside
        for line, module in _imports(p)
        if _is(module, ("tandem",)) and not _is(module, STORE_MAY_IMPORT)
    ]
    assert offenders == [], "the store sits below every other package:\n" + "\n".join(offenders)


def test_the_checks_see_an_offending_import(tmp_path):
    """The walker finds imports inside functions too (the lazy ones)."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from sqlalchemy import text\n    import tandem.lcr.table\n")
    modules = [m for _, m in _imports(probe)]
    assert _is(modules[0], SQL_LIBRARIES)
    assert _is(modules[1], ("tandem",)) and not _is(modules[1], STORE_MAY_IMPORT)
