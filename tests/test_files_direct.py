"""tandem.files.DirectWriter: the same bytes as an ordinary write, direct or not."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem import files
from tandem.files import DirectWriter


@settings(max_examples=60, deadline=None)
@given(
    pieces=st.lists(st.binary(max_size=20_000), max_size=12),
    chunk=st.sampled_from([4096, 8192, 3 * 4096, 10_000]),
)
def test_direct_writer_writes_exactly_the_bytes_given(tmp_path_factory, pieces, chunk):
    path = tmp_path_factory.mktemp("direct") / "out.bin"
    w = DirectWriter(path, chunk=chunk)
    for p in pieces:
        assert w.write(p) == len(p)
        w.flush()
    w.close()
    w.close()  # a second close does nothing
    assert path.read_bytes() == b"".join(pieces)


def test_direct_writer_takes_pyarrow_buffers_and_creates_the_file_as_open_does(tmp_path):
    data = os.urandom(50_000)
    w = DirectWriter(tmp_path / "d.bin", chunk=8192)
    w.write(pa.py_buffer(data).slice(3, 40_000))
    w.close()
    with open(tmp_path / "plain.bin", "wb") as fh:
        fh.write(data[3:40_003])
    assert (tmp_path / "d.bin").read_bytes() == data[3:40_003]
    assert (tmp_path / "d.bin").stat().st_mode == (tmp_path / "plain.bin").stat().st_mode


def test_direct_writer_replaces_an_existing_file(tmp_path):
    path = tmp_path / "d.bin"
    path.write_bytes(b"y" * 100_000)
    w = DirectWriter(path, chunk=4096)
    w.write(b"x" * 5000)
    w.close()
    assert path.read_bytes() == b"x" * 5000


def test_a_file_system_refusing_o_direct_at_the_open_gets_an_ordinary_file(tmp_path, monkeypatch):
    if not files._O_DIRECT:
        pytest.skip("no O_DIRECT on this platform")
    real = os.open

    def refuse(path, flags, *args):
        if flags & files._O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(path, flags, *args)

    monkeypatch.setattr(files.os, "open", refuse)
    w = DirectWriter(tmp_path / "d.bin", chunk=4096)
    assert not w.direct
    w.write(b"a" * 10_000)
    w.close()
    assert (tmp_path / "d.bin").read_bytes() == b"a" * 10_000


def test_a_direct_write_refused_midway_continues_through_the_page_cache(tmp_path, monkeypatch):
    real = os.write
    refused = []

    def refuse_second(fd, data):
        if len(refused) == 1 and w.direct:
            refused.append("yes")
            raise OSError(errno.EINVAL, "Invalid argument")
        if not refused:
            refused.append("first passed")
        return real(fd, data)

    w = DirectWriter(tmp_path / "d.bin", chunk=4096)
    if not w.direct:
        pytest.skip("this file system has no O_DIRECT")
    monkeypatch.setattr(files.os, "write", refuse_second)
    data = os.urandom(30_000)
    w.write(data)
    w.close()
    assert refused == ["first passed", "yes"]
    assert (tmp_path / "d.bin").read_bytes() == data


def test_a_short_direct_write_continues_with_the_rest(tmp_path, monkeypatch):
    real = os.write
    w = DirectWriter(tmp_path / "d.bin", chunk=8192)
    monkeypatch.setattr(files.os, "write", lambda fd, data: real(fd, data[:4096]))
    data = os.urandom(20_000)
    w.write(data)
    w.close()
    assert (tmp_path / "d.bin").read_bytes() == data


def test_other_errors_are_raised_by_the_next_write_or_by_close(tmp_path, monkeypatch):
    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "write", full)
    w = DirectWriter(tmp_path / "d.bin", chunk=4096, depth=2)
    with pytest.raises(OSError) as info:
        for _ in range(10):  # the blocks are written on the writer's thread
            w.write(b"z" * 5000)
        w.close()
    assert info.value.errno == errno.ENOSPC
    with contextlib.suppress(OSError):
        w.close()  # the caller's abort after a failed write: the error again, no hang
    w.close()  # closed: nothing more
    assert w.closed
    monkeypatch.undo()


@settings(max_examples=30, deadline=None)
@given(
    pieces=st.lists(st.binary(min_size=1, max_size=30_000), max_size=10),
    depth=st.integers(1, 4),
)
def test_blocks_written_on_the_thread_land_in_order(tmp_path_factory, pieces, depth):
    path = tmp_path_factory.mktemp("depth") / "out.bin"
    w = DirectWriter(path, chunk=4096, depth=depth)
    for p in pieces:
        w.write(p)
    w.close()
    assert path.read_bytes() == b"".join(pieces)


def test_anonymous_map_is_zeroed_writable_private_memory():
    m = files.anonymous_map(3 * 4096)
    assert len(m) == 3 * 4096 and m[:] == bytes(3 * 4096)
    m[10:14] = b"abcd"
    assert m[8:16] == b"\0\0abcd\0\0"
    if files._PRIVATE_ANONYMOUS is not None:
        # private: a child process (fork) gets its own copy, not the parent's pages
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            m[10:14] = b"wxyz"
            os._exit(0)
        os.waitpid(pid, 0)
        assert m[10:14] == b"abcd"
    m.close()


def _thp_eligible(address: int) -> str | None:
    """The ``THPeligible`` field of the mapping holding ``address`` (/proc/self/smaps)."""
    inside = False
    with open("/proc/self/smaps") as fh:
        for line in fh:
            head = line.split(maxsplit=1)[0]
            if "-" in head and not head.endswith(":"):
                lo, hi = (int(x, 16) for x in head.split("-"))
                inside = lo <= address < hi
            elif inside and head == "THPeligible:":
                return line.split()[1]
    return None


def _address(m: object) -> int:
    view = ctypes.c_char.from_buffer(m)  # type: ignore[arg-type]
    try:
        return ctypes.addressof(view)
    finally:
        del view


def _thp_mode() -> str | None:
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as fh:
            text = fh.read()
    except OSError:
        return None
    return text.split("[", 1)[1].split("]", 1)[0] if "[" in text else None


@pytest.mark.skipif(
    not os.path.exists("/proc/self/smaps") or _thp_mode() in (None, "never"),
    reason="no transparent huge pages on this machine",
)
def test_a_huge_anonymous_map_is_eligible_for_huge_pages_and_a_plain_one_is_not_asked():
    size = 8 << 20
    huge = files.anonymous_map(size, huge=True)
    plain = files.anonymous_map(size)
    assert _thp_eligible(_address(huge)) == "1"
    if _thp_mode() == "madvise":  # only the advised mapping may get them
        assert _thp_eligible(_address(plain)) == "0"
    huge[size - 4 :] = b"tail"
    assert huge[:4] == bytes(4) and huge[size - 4 :] == b"tail"
    huge.close()
    plain.close()


def test_a_huge_anonymous_map_without_the_advice_is_still_memory(monkeypatch):
    monkeypatch.delattr(files.mmap, "MADV_HUGEPAGE", raising=False)
    m = files.anonymous_map(4096, huge=True)
    assert len(m) == 4096 and m[:] == bytes(4096)
    m.close()
