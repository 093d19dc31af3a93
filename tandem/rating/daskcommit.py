"""A distributed run's output directory appears complete or not at all.

The workers write their parts into a temporary directory beside the output,
``.OUTPUT.tandem-partial-PID``; the report tables go to a ``.report.tandem-partial-PID``
directory inside the report directory. When every task has finished, the client keeps
the parts the finished attempts name (a dead attempt's files are removed), flushes every
file to disk, writes a commit journal ``.OUTPUT.tandem-commit`` beside the output (the
single-machine path's name), moves the earlier output aside, renames the new one in,
renames the report tables in, removes the earlier output and then the journal. A run
killed before the journal leaves the earlier output untouched (its temporary directory
is removed by the next run); one killed after it is completed by the next run to the same
output (:func:`recover_output`) before that run reads anything.

Only an output directory that is Tandem's (it holds :data:`MARKER`) or empty is ever
replaced: any other directory is refused (:func:`check_output_dir`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from pathlib import Path

from tandem.errors import OutputError
from tandem.files import sync_directory, sync_file
from tandem.rating.stream import (
    PARTIAL,
    journal_path,
    pid_alive,
    recover_outputs,
    write_journal,
)

__all__ = [
    "MARKER",
    "check_output_dir",
    "clean_partials",
    "commit_output",
    "partial_dir",
    "recover_output",
]

#: The file that marks a directory as a Tandem distributed run's output (its summary).
MARKER = "_tandem.json"
_FORMAT = "rate-dask-commit-1"
_PARTIAL_DIR = re.compile(r"^\.(?P<name>.*)\.tandem-(partial|old)-(?P<pid>\d+)$")


def partial_dir(output: Path) -> Path:
    """This process's temporary output directory for ``output``."""
    return output.with_name(f".{output.name}{PARTIAL}{os.getpid()}")


def _old_dir(output: Path) -> Path:
    return output.with_name(f".{output.name}.tandem-old-{os.getpid()}")


def clean_partials(output: Path) -> None:
    """Remove the temporary directories a killed run (its process gone) left beside
    ``output``."""
    with contextlib.suppress(OSError):
        for leftover in output.parent.glob(f".{output.name}.tandem-*-*"):
            m = _PARTIAL_DIR.match(leftover.name)
            if m and m["name"] == output.name and not pid_alive(int(m["pid"])):
                shutil.rmtree(leftover, ignore_errors=True)


def check_output_dir(output: Path) -> None:
    """Refuse an output that is a file, or a directory that is neither empty nor a
    Tandem output (:data:`MARKER`): a distributed run replaces its output whole."""
    if not output.exists():
        return
    if not output.is_dir():
        raise OutputError(
            f"the output {os.fspath(output)} is a file: with --dask, -o names a directory "
            "of Parquet parts"
        )
    if (output / MARKER).exists():
        return
    if any(output.iterdir()):
        raise OutputError(
            f"the output directory {os.fspath(output)} is not empty and not a Tandem "
            "rating output: name a new or empty directory"
        )


def _fsync_tree(root: Path) -> None:
    for folder, _dirs, files in os.walk(root):
        for name in files:
            sync_file(Path(folder, name))
        sync_directory(Path(folder))


def commit_output(staged: Path, output: Path, report_files: list[tuple[Path, Path]]) -> None:
    """Replace ``output`` by the complete directory ``staged`` and rename each report
    table ``(temporary, target)`` in, in one journalled commit (see the module doc)."""
    _fsync_tree(staged)
    for tmp, _ in report_files:
        sync_file(tmp)
    journal = journal_path(output)
    record = {
        "tandem": _FORMAT,
        "output": str(output),
        "staged": str(staged),
        "old": str(_old_dir(output)),
        "renames": [[str(t), str(p)] for t, p in report_files],
    }
    write_journal(journal, record)
    _finish(record)
    journal.unlink()
    sync_directory(journal.parent)


def _finish(record: dict) -> None:
    """Do what a journal lists that is not done yet (idempotent)."""
    output, staged, old = Path(record["output"]), Path(record["staged"]), Path(record["old"])
    if staged.exists():
        if output.exists():
            os.replace(output, old)
        os.replace(staged, output)
        sync_directory(output.parent)
    todo = [(Path(t), Path(p)) for t, p in record["renames"] if Path(t).exists()]
    for _, target in todo:
        target.unlink(missing_ok=True)
    for tmp, target in todo:
        os.replace(tmp, target)
    for tmp, _ in (tuple(map(Path, pair)) for pair in record["renames"]):
        if _PARTIAL_DIR.match(tmp.parent.name):  # the report's temporary directory
            with contextlib.suppress(OSError):
                tmp.parent.rmdir()
    for folder in {output.parent} | {Path(p).parent for _, p in record["renames"]}:
        sync_directory(folder)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)


def recover_output(output: Path) -> bool:
    """Complete the commit of a run to ``output`` killed during it (its journal); True
    when there was one. A single-machine run's journal is completed by
    :func:`tandem.rating.stream.recover_outputs`."""
    journal = journal_path(output)
    if not journal.exists():
        return False
    try:
        record = json.loads(journal.read_text(encoding="utf-8"))
        kind = record.get("tandem")
        if kind != _FORMAT:
            return recover_outputs(output)
        names = [record["staged"], record["old"]] + [t for t, _ in record["renames"]]
        if Path(record["output"]) != output:
            raise ValueError("another output's journal")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise OutputError(
            f"{journal}: unreadable commit journal of an earlier run ({exc}); remove it and rerun"
        ) from None
    for name in names:  # only renames of a run's own temporary files and directories
        p = Path(name)
        if not (_PARTIAL_DIR.match(p.name) or _PARTIAL_DIR.match(p.parent.name)):
            raise OutputError(f"{journal}: not a Tandem commit journal; remove it and rerun")
    _finish(record)
    journal.unlink()
    sync_directory(journal.parent)
    return True
