"""Crafted routing-table snapshots for the safety tests: one small real table, byte flips
and truncations with the CRC recomputed (what an attacker who knows the format does), the
routing results to compare a loaded table with."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pandas as pd

from tandem.lcr.reader import IN_FORCE_COLUMNS
from tandem.lcr.router import Router
from tandem.lcr.table import OPEN_END, RoutingTable, compile_rates

KEY = b"0123456789abcdef0123456789abcdef"
NUMBERS = ["44", "4420", "442079460000", "4430", "441", "4915", "49", "1555", "1", "33", "9"]
#: Sections whose values the format holds once: a flip there gives another valid table
#: (a different fee or increment), which only a signature can tell from the original.
VALUE_SECTIONS = frozenset(
    f"{side}_{f}"
    for side in ("buy", "sell")
    for f in ("connect_fee", "initial_increment", "next_increment", "min_duration")
)
_CARRIERS = {
    "atlas": {"4": 90, "44": 100, "4420": 80, "49": 70, "1": 10},
    "borealis": {"44": 95, "4420": 50, "442079": 40, "33": 60},
    "cygnus": {"442": 85, "4915": 30, "1555": 12, "44": 100},
}


def table() -> RoutingTable:
    """A small table with nested prefixes, rate ties and two customers."""
    rows = []
    for carrier, prefixes in _CARRIERS.items():
        for i, (p, rate) in enumerate(prefixes.items()):
            rows.append((carrier, "carrier", "USD", p, rate, i, 60, 6 + i, 0, 0, OPEN_END))
    for p, rate in {"4": 200, "44": 150, "1": 50, "3": 90}.items():
        rows.append(("acme", "customer", "USD", p, rate, 0, 60, 60, 0, 0, OPEN_END))
    rows.append(("zenith", "customer", "USD", "49", 300, 1, 1, 1, 0, 0, OPEN_END))
    return compile_rates(pd.DataFrame(rows, columns=[*IN_FORCE_COLUMNS, "effective_until"]), 0)


def snapshot_bytes(tmp: Path, key: bytes | None = None) -> bytes:
    """The bytes of :func:`table` saved (signed with ``key`` when given)."""
    path = tmp / "good.tdm"
    table().save(path, key=key)
    return path.read_bytes()


def header(data: bytes) -> tuple[int, int, int]:
    """``(flags, metadata length, total)`` of a snapshot's header."""
    flags, meta_len, total = struct.unpack_from("<IQQ", data, 12)
    return flags, meta_len, total


def recrc(data: bytes | bytearray) -> bytes:
    """``data`` with both CRC-32 fields recomputed (the body's and the metadata's) and
    ``total`` set to the file's length, as an attacker who knows the format would."""
    out = bytearray(data)
    if len(out) < 64:
        return bytes(out)
    flags, meta_len, _total = header(out)
    total = len(out) - (32 if flags & 1 else 0)
    struct.pack_into("<Q", out, 24, total)
    struct.pack_into("<I", out, 32, zlib.crc32(bytes(out[64:total])))
    struct.pack_into("<I", out, 36, zlib.crc32(bytes(out[64 : 64 + meta_len])))
    return bytes(out)


def spans(data: bytes) -> dict[str, tuple[int, int]]:
    """Byte span ``[start, end)`` of the metadata (``"meta"``) and of every section."""
    _flags, meta_len, _total = header(data)
    meta = json.loads(data[64 : 64 + meta_len])
    out = {"meta": (64, 64 + meta_len)}
    for name, (offset, dtype, count) in meta["sections"].items():
        size = count if dtype == "bytes" else count * int(dtype[2:])
        out[name] = (offset, offset + size)
    return out


def region(data: bytes, pos: int) -> str:
    """Which part of the file byte ``pos`` is in: a section name, ``meta``, ``header``,
    ``signature`` or ``padding``."""
    if pos < 64:
        return "header"
    for name, (a, b) in spans(data).items():
        if a <= pos < b:
            return name
    return "signature" if pos >= header(data)[2] else "padding"


def routes(table: RoutingTable) -> list[dict]:
    """Every customer's decision for every number of :data:`NUMBERS` (JSON-ready)."""
    router = Router(table)
    return [
        router.route(n, customer=c, at=0).to_dict() for c in ("acme", "zenith") for n in NUMBERS
    ]
