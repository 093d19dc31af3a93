"""tandem.files.DeferredRemoval: names removed at once, blocks freed by a helper process."""

from __future__ import annotations

import os
import time

import pytest

from tandem import files
from tandem.files import DeferredRemoval

pytestmark = pytest.mark.skipif(
    files._HELPER is None or not hasattr(os, "posix_spawn") or not os.path.isdir("/proc/self/fd"),
    reason="needs posix_spawn, cat and /proc",
)


def _held(path) -> list[int]:
    """This process's descriptors of the (removed) file ``path``."""
    out = []
    for name in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if link in (f"{path} (deleted)", str(path)):
            out.append(int(name))
    return out


def _gone(pid: int) -> bool:
    """Whether the helper ended and was reaped (bounded wait, not a timing)."""
    for _ in range(2000):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.005)
    return False


def test_removed_names_are_gone_at_once_and_the_files_handed_to_the_helper(tmp_path):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    a.write_bytes(b"x" * 100_000)
    b.write_bytes(b"y")
    removal = DeferredRemoval()
    removal.unlink(a)
    removal.unlink(b)
    removal.unlink(tmp_path / "missing")  # nothing to remove: nothing done
    assert not a.exists() and not b.exists()
    assert len(_held(a)) == 1 and len(_held(b)) == 1  # kept open until release
    pid = removal.release()
    assert pid is not None
    assert _held(a) == [] and _held(b) == []  # this process holds none of them now
    assert _gone(pid)  # the helper ended (its descriptors closed: the blocks freed)
    assert removal.release() is None  # nothing left


def test_links_fifos_and_other_names_are_only_removed(tmp_path):
    target = tmp_path / "t"
    target.write_bytes(b"data")
    link = tmp_path / "link"
    link.symlink_to(target)
    hard = tmp_path / "hard"
    os.link(target, hard)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    removal = DeferredRemoval()
    for p in (link, hard, fifo):
        removal.unlink(p)
        assert not os.path.lexists(p)
    assert target.read_bytes() == b"data"  # the symlink's target and the other link stay
    assert removal.release() is None  # nothing was worth keeping open


def test_without_the_helper_files_are_removed_here(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "_HELPER", None)
    p = tmp_path / "f"
    p.write_bytes(b"z" * 1000)
    removal = DeferredRemoval()
    removal.unlink(p)
    assert not p.exists() and _held(p) == []
    assert removal.release() is None


def test_a_helper_that_cannot_start_leaves_nothing_open(tmp_path, monkeypatch):
    p = tmp_path / "f"
    p.write_bytes(b"z" * 1000)
    removal = DeferredRemoval()
    removal.unlink(p)
    monkeypatch.setattr(files, "_HELPER", str(tmp_path / "no-such-program"))
    assert removal.release() is None
    assert not p.exists() and _held(p) == []
