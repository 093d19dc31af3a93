"""One side of ``bench_lcr.py --baseline-src``: times the decision loop of one source tree.

    python benchmarks/lcr_ab_worker.py SRC SNAPSHOT NUMBERS PATH

Imports ``tandem`` from the source tree ``SRC`` (a checkout or ``git worktree``), loads the
snapshot with that tree's ``RoutingTable.load``, builds that tree's ``Router`` with a
number-lookup cache that answers "not ported" (as ``bench_lcr.py`` does) and warms up.
``PATH`` picks the plan: ``express`` is the default plan (plain least cost: the router's
express path), ``general`` the same plan with one blocked prefix no number starts with (every
call takes the general path). It then prints one JSON line (``ready``, with a digest of
the first 5,000 decisions so the two trees can be checked to decide alike) and, for every
``run`` line read on stdin, routes every number once in a tight loop and prints
``{"wall": s, "cpu": s}``. The parent alternates the two workers, so they never run at once.
A tree that reads another snapshot format version compiles the store beside the snapshot
(``bench.db``) into a file of its own format, so both route the same rates.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path


def main() -> None:
    src, snapshot, numbers_file, path = sys.argv[1:5]
    sys.path.insert(0, src)
    from tandem.enum.types import LookupKind, NumberInfo
    from tandem.lcr.policy import Plan
    from tandem.lcr.router import Router
    from tandem.lcr.table import RoutingTable

    miss = NumberInfo("", LookupKind.NOT_FOUND, source="cache")
    cache: dict[str, NumberInfo] = {}

    class CacheLookup:
        """A number-lookup cache hit: the shape of a real ENUM/LNP cache on the hot path."""

        def lookup(self, number: str) -> NumberInfo:
            return cache.get(number, miss)

    plan = Plan(blocked=("0",)) if path == "general" else Plan()
    router = Router(_table(snapshot, RoutingTable), plan=plan, lookup=CacheLookup())
    numbers = Path(numbers_file).read_text(encoding="ascii").split()
    route = router.route
    digest = hashlib.sha256()
    for n in numbers[:5000]:
        digest.update(route(n, customer="acme", at=1).to_json().encode())
    for n in numbers:  # warm up
        route(n, customer="acme", at=1)
    where = sys.modules["tandem"].__file__
    print(json.dumps({"ready": where, "digest": digest.hexdigest()}), flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
        t0, c0 = time.perf_counter(), time.thread_time()
        for n in numbers:
            route(n, customer="acme", at=1)
        wall, cpu = time.perf_counter() - t0, time.thread_time() - c0
        print(json.dumps({"wall": wall, "cpu": cpu}), flush=True)


def _table(snapshot: str, table_class: type) -> object:
    """The snapshot as this tree loads it; a tree that reads another snapshot format
    version compiles the same store (``bench.db`` beside the snapshot) into its own file."""
    from tandem.errors import SnapshotError

    try:
        return table_class.load(snapshot)
    except SnapshotError as exc:
        if "format version" not in str(exc):
            raise
    from tandem.lcr.table import compile_table
    from tandem.store import Store

    own = Path(snapshot).with_name(f"routes-{abs(hash(sys.path[0])) % 10**8}.tdm")
    compile_table(Store(Path(snapshot).with_name("bench.db")), 1).save(own)
    return table_class.load(own)


if __name__ == "__main__":
    main()
