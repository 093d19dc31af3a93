"""`tandem route --table` and `tandem compile --sign-key` on hostile files: one error line
naming the problem, exit 2, store unchanged (issue 10, items 10 and 14)."""

from __future__ import annotations

import os
import random
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from tandem.cli.main import cli
from tests.hostile.conftest import run_refused
from tests.snapshot_helpers import KEY, recrc, snapshot_bytes, spans

ROUTE = ["route", "4420", "--customer", "acme", "--at", "2026-11-02"]


def _fifo(tmp: Path) -> Path:
    os.mkfifo(tmp / "fifo.tdm")
    return tmp / "fifo.tdm"


def _sparse_terabyte(tmp: Path) -> Path:
    data = bytearray(snapshot_bytes(tmp))
    struct.pack_into("<Q", data, 24, 1 << 40)
    path = tmp / "huge.tdm"
    with open(path, "wb") as fh:
        fh.write(data)
        fh.truncate(1 << 40)
    return path


def _flipped_trie(tmp: Path) -> Path:
    data = bytearray(snapshot_bytes(tmp))
    a, b = spans(bytes(data))["trie"]
    data[random.Random(3).randrange(a, b)] ^= 0xFF
    (tmp / "flip.tdm").write_bytes(recrc(data))
    return tmp / "flip.tdm"


def _flipped_route_row(tmp: Path) -> Path:
    data = bytearray(snapshot_bytes(tmp))
    a, _b = spans(bytes(data))["route_row"]
    data[a] ^= 0x01  # the first route now points at another carrier's row
    (tmp / "row.tdm").write_bytes(recrc(data))
    return tmp / "row.tdm"


def _unsigned(tmp: Path) -> Path:
    (tmp / "unsigned.tdm").write_bytes(snapshot_bytes(tmp))
    return tmp / "unsigned.tdm"


def _signed_other_key(tmp: Path) -> Path:
    (tmp / "other.tdm").write_bytes(snapshot_bytes(tmp, KEY[::-1]))
    return tmp / "other.tdm"


def _key(tmp: Path) -> Path:
    (tmp / "ops.key").write_bytes(KEY + b"\n")
    return tmp / "ops.key"


def _short_key(tmp: Path) -> Path:
    (tmp / "short.key").write_text("hunter2\n")
    return tmp / "short.key"


CASES = [
    # (id, table maker, key maker or None, names in the error line)
    ("fifo-table", _fifo, None, ["fifo.tdm", "FIFO"]),
    ("dev-zero-table", lambda tmp: Path("/dev/zero"), None, ["/dev/zero", "device"]),
    ("sparse-terabyte", _sparse_terabyte, None, ["huge.tdm", "limit"]),
    ("flipped-trie-crc-recomputed", _flipped_trie, None, ["flip.tdm", "consistent"]),
    ("flipped-route-row-crc-recomputed", _flipped_route_row, None, ["row.tdm", "consistent"]),
    ("unsigned-with-key", _unsigned, _key, ["unsigned.tdm", "not signed"]),
    ("signed-with-other-key", _signed_other_key, _key, ["other.tdm", "signature"]),
    ("short-key", _unsigned, _short_key, ["short.key", "at least 16"]),
    ("fifo-key", _unsigned, _fifo, ["fifo.tdm", "FIFO"]),
]


@pytest.mark.parametrize(
    ("make", "key", "names"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_route_refuses_hostile_table(db, tmp_path, make, key, names):
    args = [*ROUTE, "--table", str(make(tmp_path))]
    if key is not None:
        args += ["--verify-key", str(key(tmp_path))]
    run_refused(args, db, names=names)


def test_verify_key_needs_a_table(db, tmp_path):
    run_refused([*ROUTE, "--verify-key", str(_key(tmp_path))], db, names=["--table"])


@pytest.mark.parametrize(
    ("key", "names"),
    [
        (lambda tmp: tmp / "nope.key", ["nope.key", "cannot open"]),
        (_short_key, ["short.key", "at least 16"]),
        (_fifo, ["fifo.tdm", "FIFO"]),
    ],
    ids=["missing", "short", "fifo"],
)
def test_compile_refuses_a_bad_sign_key_and_writes_nothing(db, tmp_path, key, names):
    out = tmp_path / "routes.tdm"
    run_refused(
        ["compile", "--at", "2026-11-02", "-o", str(out), "--sign-key", str(key(tmp_path))],
        db,
        names=names,
    )
    assert not out.exists()


def test_signed_compile_then_route_with_the_key(db, tmp_path):
    out, key = tmp_path / "routes.tdm", _key(tmp_path)
    run = CliRunner().invoke
    res = run(
        cli,
        ["compile", "--at", "2026-11-02", "-o", str(out), "--sign-key", str(key), "--db", str(db)],
    )
    assert res.exit_code == 0 and "signed" in res.output, res.output
    res = run(
        cli, [*ROUTE, "--table", str(out), "--verify-key", str(key), "--json", "--db", str(db)]
    )
    assert res.exit_code == 0, res.output
    assert '"routes"' in res.output
    other = tmp_path / "other.key"
    other.write_bytes(KEY[::-1])
    run_refused([*ROUTE, "--table", str(out), "--verify-key", str(other)], db, names=["signature"])
