"""``tandem rate CDRS --dask ADDRESS -o DIR``: the month-end job on a Dask cluster.

The same options as the single-machine command (formats, time zones, account and column
maps, plans, grace, local ports, period rerates, ``--report``, ``--json``), run by
:func:`tandem.rating.daskrun.rate_on_dask`: CDRS is a glob, a directory or an fsspec URL,
the output a directory of Parquet parts that the workers write. ``--dask local[:N]``
starts a local cluster of N worker processes (default: one per core) for this run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tandem.cli.context import CliContext
from tandem.errors import ConfigError, OutputError

if TYPE_CHECKING:
    from distributed import Client

    from tandem.cli.rate import RatingOptions

__all__ = ["dask_client", "parse_local", "rate_dask"]


def parse_local(address: str) -> int | None:
    """Workers of a ``local`` / ``local:N`` address (None for a scheduler address)."""
    if address != "local" and not address.startswith("local:"):
        return None
    count = address.partition(":")[2]
    if not count:
        return max(os.cpu_count() or 1, 1)
    if not count.isdigit() or int(count) < 1:
        raise ConfigError(f"--dask local:N needs a number of workers of 1 or more, got {address!r}")
    return int(count)


@contextlib.contextmanager
def dask_client(address: str) -> Iterator[Client]:
    """A Dask client of the scheduler at ``address``, or of a local cluster of worker
    processes bound to 127.0.0.1 (``local[:N]``), closed after."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - the extra is installed in tests
        raise ConfigError("--dask needs Dask: pip install 'tandem[dask]'") from None
    workers = parse_local(address)
    if workers is not None:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        with cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(address, timeout="15s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    with client:
        if not client.scheduler_info().get("workers"):
            with contextlib.suppress(OSError, TimeoutError):
                client.wait_for_workers(1, timeout=15)
            if not client.scheduler_info().get("workers"):
                raise ConfigError(
                    f"the Dask scheduler at {address} has no workers: start some "
                    f"(dask worker {address})"
                )
        yield client


def rate_dask(
    ctx: CliContext,
    options: RatingOptions,
    *,
    address: str,
    cdrs: str,
    output: Path,
    unrated: Path | None,
    report_dir: Path | None,
    as_json: bool,
    period: tuple[int, int] | None,
    partition_rows: int,
) -> None:
    """Run ``tandem rate`` on a Dask cluster and print its summary (see the module doc)."""
    from tandem.cli.progress import progress
    from tandem.cli.rate import print_summary
    from tandem.rating.daskrun import rate_on_dask
    from tandem.rating.report import RatingReport

    if unrated is not None:
        raise OutputError(
            "with --dask the unrated CDRs go to OUTPUT/unrated/ beside OUTPUT/rated/: "
            "drop --unrated"
        )
    first = output.parts[0] if output.parts else ""
    if first.endswith(":") and len(first) > 2:  # s3://bucket/out, as a path: s3:/bucket/out
        raise OutputError(
            f"-o {os.fspath(output)}: with --dask the output is a directory that the client "
            "and every worker see at the same path (a shared filesystem), not a URL"
        )
    prepared = options.prepare(ctx)
    reader, port_lookup, rater = prepared.reader, prepared.port_lookup, prepared.rater
    tariff_plan = prepared.tariff_plan
    want_report = report_dir is not None or not (as_json or ctx.quiet)
    with dask_client(address) as client, contextlib.ExitStack() as stack:
        bars = []

        def started(total: int | None) -> None:
            bars.append(
                stack.enter_context(progress("rating CDRs", total, enabled=ctx.show_progress))
            )

        def advance(n: int) -> None:
            if bars:
                bars[0].advance(n)

        workers = len(client.scheduler_info().get("workers", {}))
        run = rate_on_dask(
            client,
            cdrs,
            output,
            rater,
            reader=reader,
            port_lookup=port_lookup,
            period=period,
            report=want_report,
            report_dir=report_dir,
            partition_rows=partition_rows,
            on_rows=advance,
            on_start=started,
            summary_extra={"tariff_plan": tariff_plan},
        )
    summary = run.summary
    result = summary.as_json()
    out = Path(output).absolute()
    result["output"] = os.fspath(out / "rated")
    result["unrated_output"] = os.fspath(out / "unrated")
    result["tariff_plan"] = tariff_plan
    result["dask"] = {
        "workers": workers,
        "files": run.files,
        "partitions": run.partitions,
        "rated_parts": run.rated_parts,
        "unrated_parts": run.unrated_parts,
    }
    if as_json:
        click.echo(json.dumps(result))
        return
    if not ctx.quiet:
        prepared.echo_plans()
        click.echo(
            f"{run.files} CDR files in {run.partitions} partitions on {workers} Dask workers: "
            f"{run.rated_parts} rated and {run.unrated_parts} unrated parts in "
            f"{os.fspath(out)}"
        )
        report = run.report if run.report is not None else RatingReport()
        print_summary(summary, report)
