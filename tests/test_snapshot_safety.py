"""Routing-table snapshots as hostile input (issue 10, items 10 and 14): a crafted file is
refused with a SnapshotError or loads as the table it was compiled from, never crashes the
process; a signed file loads only with its key; FIFOs, devices and sparse giants are
refused without being read."""

from __future__ import annotations

import contextlib
import json
import os
import random
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tandem.errors import SnapshotError, TandemError
from tandem.lcr.snapshot import MAX_SNAPSHOT_BYTES, load_key
from tandem.lcr.table import RoutingTable
from tests.snapshot_helpers import (
    KEY,
    VALUE_SECTIONS,
    recrc,
    region,
    routes,
    snapshot_bytes,
    spans,
    table,
)

ROOT = Path(__file__).resolve().parents[1]
_CACHE: dict[str, object] = {}


def _good(tmp_path_factory) -> tuple[bytes, bytes, list[dict]]:
    """(unsigned bytes, signed bytes, routes of the original table), made once."""
    if "good" not in _CACHE:
        tmp = tmp_path_factory.mktemp("good")
        _CACHE["good"] = (snapshot_bytes(tmp), snapshot_bytes(tmp, KEY), routes(table()))
    return _CACHE["good"]  # type: ignore[return-value]


def _load(path: Path, data: bytes, **kw) -> RoutingTable | None:
    path.write_bytes(data)
    try:
        return RoutingTable.load(path, **kw)
    except SnapshotError:
        return None


# -- the trie and the prefix list ---------------------------------------------------------
def test_round_trip_unsigned_and_signed(tmp_path):
    original = routes(table())
    for key in (None, KEY):
        path = tmp_path / f"{key is not None}.tdm"
        table().save(path, key=key)
        assert routes(RoutingTable.load(path, key=key)) == original
        assert routes(RoutingTable.load(path)) == original  # a signed file loads keyless too


@pytest.mark.parametrize("section", ["trie", "prefixes"])
def test_every_flip_of_the_prefix_index_is_refused_or_harmless(tmp_path, section):
    """Bytes of the trie blob and of the prefix list (every one near the ends, a spread
    in between), flipped with the CRCs recomputed: the
    marisa blob is never parsed from an unsigned file, so no flip can crash the loader;
    the rebuilt trie must equal the blob, so no flip can renumber the prefixes."""
    data = snapshot_bytes(tmp_path)
    original = routes(table())
    a, b = spans(data)[section]
    picks = {*range(a, min(a + 96, b)), *range(max(a, b - 32), b), *range(a, b, 17)}
    for pos in sorted(picks):
        bad = bytearray(data)
        bad[pos] ^= 0x5A
        loaded = _load(tmp_path / "x.tdm", recrc(bad))
        assert loaded is None or routes(loaded) == original, pos


def test_trie_swapped_with_another_tables_trie_is_refused(tmp_path):
    """A valid marisa blob of other prefixes (lengths kept equal) cannot pass for this one."""
    data = bytearray(snapshot_bytes(tmp_path))
    prefixes = json.loads(bytes(data[slice(*spans(bytes(data))["prefixes"])]))
    a, b = spans(bytes(data))["trie"]
    import marisa_trie

    other = marisa_trie.Trie([p.replace("4", "7") for p in prefixes]).tobytes()
    assert len(other) == b - a  # same shape of tree, other digits
    data[a:b] = other
    (tmp_path / "x.tdm").write_bytes(recrc(data))
    with pytest.raises(SnapshotError, match="prefix index does not match"):
        RoutingTable.load(tmp_path / "x.tdm")


# -- fuzz: byte flips and truncations with the CRCs recomputed ---------------------------
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(where=st.floats(0, 1, exclude_max=True), mask=st.integers(1, 255), flips=st.integers(1, 3))
def test_fuzz_flips_refused_or_same_routes(tmp_path_factory, where, mask, flips):
    """Flip 1-3 bytes anywhere, recompute both CRCs: refused, or routes equal to the
    original's. A flip in a value the format holds once (a fee, an increment, a name in
    the metadata) gives another valid table: that must route without crashing, and only
    the signature tells it from the original (see the signed fuzz below)."""
    good, _signed, original = _good(tmp_path_factory)
    rng = random.Random(f"{where}-{mask}")
    bad = bytearray(good)
    hit = set()
    for i in range(flips):
        pos = 64 + int(where * (len(good) - 64)) if i == 0 else rng.randrange(64, len(good))
        bad[pos] ^= mask
        hit.add(region(good, pos))
    loaded = _load(tmp_path_factory.mktemp("f") / "x.tdm", recrc(bad))
    if loaded is None:
        return
    try:
        got = routes(loaded)
    except TandemError:  # e.g. a customer's name changed: an error line, not a crash
        got = None
    if not hit & (VALUE_SECTIONS | {"meta"}):
        assert got == original, hit


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut=st.floats(0, 1, exclude_max=True), fix_header=st.booleans())
def test_fuzz_truncations_are_refused(tmp_path_factory, cut, fix_header):
    """A file cut anywhere (its header's total and CRCs recomputed or not) is refused."""
    good, _signed, _original = _good(tmp_path_factory)
    data = good[: int(cut * len(good))]
    data = recrc(data) if fix_header else data
    with pytest.raises(SnapshotError):
        path = tmp_path_factory.mktemp("t") / "x.tdm"
        path.write_bytes(data)
        RoutingTable.load(path)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(where=st.floats(0, 1, exclude_max=True), mask=st.integers(1, 255))
def test_fuzz_signed_file_any_flip_is_refused_with_the_key(tmp_path_factory, where, mask):
    """Signed: any flipped byte (header, body or signature; CRCs recomputed) is refused
    when the key is given; so is the unsigned original, and the signed one under another key."""
    good, signed, _original = _good(tmp_path_factory)
    tmp = tmp_path_factory.mktemp("s")
    bad = bytearray(signed)
    bad[int(where * len(signed))] ^= mask
    crafted = recrc(bad)
    assume(crafted != signed)  # a flip of a CRC or of the length field is recomputed away
    with pytest.raises(SnapshotError):
        (tmp / "x.tdm").write_bytes(crafted)
        RoutingTable.load(tmp / "x.tdm", key=KEY)
    (tmp / "u.tdm").write_bytes(good)
    with pytest.raises(SnapshotError, match="not signed"):
        RoutingTable.load(tmp / "u.tdm", key=KEY)
    (tmp / "s.tdm").write_bytes(signed)
    with pytest.raises(SnapshotError, match="bad signature"):
        RoutingTable.load(tmp / "s.tdm", key=KEY[::-1])
    assert RoutingTable.load(tmp / "s.tdm", key=KEY).carriers == table().carriers


def test_stripped_signature_is_refused_with_the_key(tmp_path):
    signed = snapshot_bytes(tmp_path, KEY)
    unsigned = bytearray(signed[:-32])
    struct.pack_into("<I", unsigned, 12, 0)  # clear the signed flag
    with pytest.raises(SnapshotError, match="not signed"):
        (tmp_path / "x.tdm").write_bytes(recrc(unsigned))
        RoutingTable.load(tmp_path / "x.tdm", key=KEY)


# -- a segfault kills pytest: load crafted files in a child process -----------------------
_CHILD = r"""
import sys
sys.path.insert(0, sys.argv[1])
from tandem.errors import TandemError
from tandem.lcr.router import Router
from tandem.lcr.table import RoutingTable
numbers = ["44", "4420", "442079460000", "4915", "1555", "33"]
for path in sys.argv[2:]:
    try:
        router = Router(RoutingTable.load(path))
        for n in numbers:
            router.route(n, customer="acme", at=0).to_dict()
        print("loaded", path, flush=True)
    except TandemError:
        print("refused", path, flush=True)
"""


def crafted_batch(tmp: Path, data: bytes, count: int, seed: int) -> list[Path]:
    """``count`` files: one byte of the trie, the prefix list or anywhere flipped, CRCs
    recomputed (the recipe that segfaulted `tandem route` before the fix)."""
    rng = random.Random(seed)
    where = spans(data)
    files = []
    for i in range(count):
        a, b = where[("trie", "prefixes", "trie", "offsets")[i % 4]] if i % 5 else (64, len(data))
        bad = bytearray(data)
        bad[rng.randrange(a, b)] ^= rng.randrange(1, 256)
        path = tmp / f"c{i}.tdm"
        path.write_bytes(recrc(bad))
        files.append(path)
    return files


def run_batch(src: Path, files: list[Path]) -> subprocess.CompletedProcess:
    """Load and route every file in one child process importing tandem from ``src``."""
    return subprocess.run(
        [sys.executable, "-c", _CHILD, str(src), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_crafted_files_never_crash_the_process(tmp_path):
    files = crafted_batch(tmp_path, snapshot_bytes(tmp_path), 60, seed=10)
    done = run_batch(ROOT, files)
    lines = done.stdout.splitlines()
    culprit = files[len(lines)] if len(lines) < len(files) else "?"
    assert done.returncode == 0, f"child died ({done.returncode}) on {culprit}\n{done.stderr}"
    assert len(lines) == len(files)
    assert sum(line.startswith("refused") for line in lines) > len(files) // 2


# -- non-regular files and sizes ----------------------------------------------------------
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "routes.tdm"
    os.mkfifo(fifo)
    with pytest.raises(SnapshotError, match="FIFO"):
        RoutingTable.load(fifo)
    with pytest.raises(SnapshotError, match="FIFO"):
        load_key(fifo)


def test_device_is_refused():
    with pytest.raises(SnapshotError, match="device"):
        RoutingTable.load("/dev/zero")


def _sparse(path: Path, data: bytes, size: int) -> None:
    """``data`` at the start of a sparse file of ``size`` bytes whose header says ``size``."""
    out = bytearray(data)
    struct.pack_into("<Q", out, 24, size)
    with open(path, "wb") as fh:
        fh.write(out)
        fh.truncate(size)


def test_sparse_terabyte_with_a_valid_header_is_refused_at_once(tmp_path):
    path = tmp_path / "huge.tdm"
    _sparse(path, snapshot_bytes(tmp_path), 1 << 40)
    with pytest.raises(SnapshotError, match="limit"):
        RoutingTable.load(path)


def test_sparse_file_under_the_limit_is_refused_unread(tmp_path):
    """A 4 GiB sparse file with a valid header and metadata: the layout ends long before
    the file, refused before the body is hashed (the metadata has its own CRC)."""
    path = tmp_path / "big.tdm"
    _sparse(path, snapshot_bytes(tmp_path), 4 << 30)
    assert MAX_SNAPSHOT_BYTES > (4 << 30)
    with pytest.raises(SnapshotError, match="sections end at"):
        RoutingTable.load(path)


# -- keys ---------------------------------------------------------------------------------
def test_key_file_whitespace_is_stripped_and_short_keys_refused(tmp_path):
    (tmp_path / "k").write_text(KEY.decode() + "\n")
    assert load_key(tmp_path / "k") == KEY
    (tmp_path / "short").write_text("secret\n")
    with pytest.raises(SnapshotError, match="at least 16"):
        load_key(tmp_path / "short")
    with pytest.raises(SnapshotError, match="cannot open key file"):
        load_key(tmp_path / "nope")
    (tmp_path / "big").write_bytes(b"k" * 5000)
    with pytest.raises(SnapshotError, match="longer than"):
        load_key(tmp_path / "big")


def test_unsigned_checksums_still_catch_accidents(tmp_path):
    data = bytearray(snapshot_bytes(tmp_path))
    a, _b = spans(bytes(data))["route_rate"]
    data[a] ^= 1
    with pytest.raises(SnapshotError, match="checksum"):
        (tmp_path / "x.tdm").write_bytes(bytes(data))
        RoutingTable.load(tmp_path / "x.tdm")
    with contextlib.suppress(SnapshotError):  # recomputed CRC: the consistency checks
        (tmp_path / "x.tdm").write_bytes(recrc(data))
        RoutingTable.load(tmp_path / "x.tdm")
        raise AssertionError("a route rate that differs from its row's was accepted")
