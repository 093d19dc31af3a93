"""The pieces of ``tandem rate --dask`` without a separate cluster: partitions cover every
row group once, partial summaries and reports add up to the whole, the directory commit
(and its recovery after a crash), and a remote (fsspec) CDR set on an in-process cluster."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_rating_cdr import EFF, loaded  # noqa: F401  (fixture)

from tandem.errors import OutputError
from tandem.rating.cdr import CdrReader
from tandem.rating.daskcommit import MARKER, check_output_dir, commit_output, recover_output
from tandem.rating.dasksource import cdr_partitions
from tandem.rating.daskwork import PartResult, merge_parts
from tandem.rating.price import Rater, RatingSummary
from tandem.rating.report import RatingReport
from tandem.rating.stream import journal_path

distributed = pytest.importorskip("distributed")
DAY = 86_400


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=50), min_size=0, max_size=12),
    limit=st.integers(min_value=1, max_value=120),
)
def test_partitions_cover_every_row_group_once(tmp_path_factory, sizes, limit):
    path = tmp_path_factory.mktemp("p") / "cdrs.parquet"
    schema = pa.schema([("start", pa.int64())])
    with pq.ParquetWriter(path, schema) as w:
        for n in sizes:  # one row group each (an empty one too)
            w.write_table(pa.table({"start": pa.array(range(n), pa.int64())}))
    groups = [pq.ParquetFile(path).metadata.row_group(k).num_rows
              for k in range(pq.ParquetFile(path).metadata.num_row_groups)]  # fmt: skip
    parts = cdr_partitions([str(path)], "auto", limit)
    assert [k for p in parts for k in (p.row_groups or ())] == list(range(len(groups)))
    record = 1
    for p in parts:
        assert p.format == "parquet" and p.first_record == record
        assert p.rows == sum(groups[k] for k in p.row_groups or ())
        assert p.rows <= limit or len(p.row_groups or ()) == 1
        record += p.rows or 0
    assert record - 1 == sum(groups)


def _cdrs(rng: np.random.Generator, n: int) -> pa.Table:
    numbers = np.char.add(rng.choice(["4420", "447", "1212", "34", "881"], n),
                          rng.integers(10**6, 10**7, n).astype(str))  # fmt: skip
    return pa.table({
        "start": (EFF + DAY + rng.integers(0, 3 * DAY, n)).astype(np.int64),
        "duration": rng.integers(-1, 400, n),
        "number": numbers.tolist(),
        "customer": rng.choice(["acme-telecom", "nobody"], n, p=[0.9, 0.1]).tolist(),
        "carrier": rng.choice(["atlas", "borealis", "cygnus", "zeta"], n).tolist(),
    })  # fmt: skip


_RATERS: dict[int, Rater] = {}


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)  # read only
@given(seed=st.integers(0, 2**31), cuts=st.lists(st.integers(1, 399), max_size=6))
def test_parts_add_up_to_the_whole(loaded, seed, cuts):  # noqa: F811
    rater = _RATERS.get(id(loaded)) or _RATERS.setdefault(id(loaded), Rater.from_store(loaded))
    rng = np.random.default_rng(seed)
    priced = rater.price(next(CdrReader().batches(_cdrs(rng, 400))))
    whole, whole_report = RatingSummary(), RatingReport()
    whole.add(priced)
    whole_report.add(priced)
    edges = [0, *sorted(set(cuts)), 400]
    results = []
    for a, b in zip(edges, edges[1:], strict=False):
        s, r = RatingSummary(), RatingReport()
        s.add(priced.slice(a, b - a))
        r.add(priced.slice(a, b - a))
        results.append(PartResult(summary=s, report=r, read=b - a))
    while len(results) > 1:  # a random tree, as the cluster adds them
        k = int(rng.integers(0, len(results) - 1))
        results[k : k + 2] = [merge_parts(results[k], results[k + 1])]
    total = results[0]
    assert total.summary.as_json() == whole.as_json() and total.read == 400
    assert total.report is not None
    for name, table in whole_report.tables().items():
        assert total.report.tables()[name].equals(table), name


def _output(folder: Path, text: str) -> Path:
    (folder / "rated").mkdir(parents=True)
    (folder / "rated" / "part-00000.parquet").write_text(text)
    (folder / MARKER).write_text("{}")
    return folder


def test_commit_replaces_the_output_whole_and_recovers_after_a_crash(tmp_path, monkeypatch):
    out = _output(tmp_path / "out", "old")
    check_output_dir(out)  # a Tandem output: may be replaced
    report = tmp_path / "report"
    report.mkdir()
    (report / "by_day.csv").write_text("old")

    def staged(text: str) -> tuple[Path, list[tuple[Path, Path]]]:
        new = _output(tmp_path / f".out.tandem-partial-{os.getpid()}", text)
        tmp = report / f".report.tandem-partial-{os.getpid()}"
        tmp.mkdir()
        (tmp / "by_day.csv").write_text(text)
        return new, [(tmp / "by_day.csv", report / "by_day.csv")]

    new, pairs = staged("new")
    commit_output(new, out.absolute(), pairs)
    assert (out / "rated" / "part-00000.parquet").read_text() == "new"
    assert (report / "by_day.csv").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "report"]
    assert [p.name for p in report.iterdir()] == ["by_day.csv"]

    # Killed in the middle of the renames: the next run completes the commit first.
    real = os.replace
    calls = []

    def dies_on_third(src, dst):  # the journal, the old output aside, then the new one in
        calls.append(src)
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return real(src, dst)

    new, pairs = staged("newer")
    monkeypatch.setattr(os, "replace", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        commit_output(new, out.absolute(), pairs)
    monkeypatch.setattr(os, "replace", real)
    assert not out.exists() and journal_path(out.absolute()).exists()
    assert recover_output(out.absolute())
    assert (out / "rated" / "part-00000.parquet").read_text() == "newer"
    assert (report / "by_day.csv").read_text() == "newer"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "report"]
    assert not recover_output(out.absolute())


def test_only_empty_or_tandem_directories_are_replaced(tmp_path):
    check_output_dir(tmp_path / "new")
    (tmp_path / "empty").mkdir()
    check_output_dir(tmp_path / "empty")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("x")
    with pytest.raises(OutputError, match="not a Tandem rating output"):
        check_output_dir(tmp_path / "mine")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        check_output_dir(tmp_path / "file")


def test_a_remote_cdr_set_on_an_in_process_cluster(tmp_path, loaded):  # noqa: F811
    """``memory://`` stands for any remote filesystem: the workers copy each file to
    their temporary directory and rate it, as they would from S3."""
    import fsspec

    from tandem.rating.daskrun import rate_on_dask
    from tandem.rating.stream import rate_file

    rng = np.random.default_rng(4)
    a, b = _cdrs(rng, 300), _cdrs(rng, 200)
    fs = fsspec.filesystem("memory")
    with fs.open("/tandem-test/a.parquet", "wb") as fh:
        pq.write_table(a, fh, row_group_size=100)
    csv = b.to_pandas().to_csv(index=False).encode()
    with fs.open("/tandem-test/b.csv", "wb") as fh:
        fh.write(csv)
    rater = Rater.from_store(loaded)
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    )
    try:
        with cluster, distributed.Client(cluster) as client:
            run = rate_on_dask(client, "memory://tandem-test/*", tmp_path / "out", rater,
                               partition_rows=200, report=True)  # fmt: skip
    finally:
        fs.rm("/tandem-test", recursive=True)
    assert (run.files, run.partitions) == (2, 3)  # 2 + 1 row groups of a, b whole
    want = RatingSummary()
    for name, table in (("a.parquet", a), ("b.csv", None)):
        src = tmp_path / name
        if table is not None:
            pq.write_table(table, src)
        else:
            src.write_bytes(csv)
        want.merge(rate_file(src, tmp_path / f"{name}.rated.parquet", rater))
    assert run.summary.as_json() == want.as_json()
    doc = json.loads((tmp_path / "out" / MARKER).read_text())
    assert doc["rows_in"] == 500 and doc["sell_total"] == want.as_json()["sell_total"]
    got = pq.read_table(tmp_path / "out" / "rated").to_pandas()
    assert sorted(set(got["source_file"])) == ["memory:///tandem-test/a.parquet",
                                               "memory:///tandem-test/b.csv"]  # fmt: skip


def test_a_cluster_without_workers_fails_clearly(monkeypatch):
    """All workers dead (or none ever): the run fails with one clear error, it does not
    wait forever."""
    from tandem.rating import daskrun

    monkeypatch.setattr(daskrun, "NO_WORKERS_TIMEOUT", 0.5)
    cluster = distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None)
    with cluster, distributed.Client(cluster) as client:
        task = client.submit(PartResult, key="tandem-test-no-workers")
        with pytest.raises(OutputError, match="no worker for 0 s"):
            daskrun._run_tasks(client, [(task, None)], "test", None)
