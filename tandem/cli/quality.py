"""``tandem quality``: carrier quality (attempts, ASR, NER, ACD, PDD) of a CDR file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tandem.cli.context import CliContext, global_options, pass_ctx
from tandem.cli.options import (
    INSTANT,
    INSTANT_FORMS,
    cdr_batch_size_option,
    cdr_format_option,
    cdr_map_column_option,
    cdr_timezone_option,
)
from tandem.errors import CdrError, ConfigError

if TYPE_CHECKING:
    from tandem.quality import QualityTable

__all__ = ["quality_command"]


def _render(result: QualityTable, by: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 200))
    table = Table(title="Carrier quality")
    heads = ["carrier"] + (["group"] if by != "carrier" else [])
    heads += ["attempts", "answered", "ASR", "NER", "ACD s", "PDD p50 ms", "PDD p95 ms"]
    for head in heads:
        table.add_column(head, justify="left" if head in ("carrier", "group") else "right")
    for row in result.rows:
        d = row.to_dict()
        cells = [d["carrier"]] + ([d["group"]] if by != "carrier" else [])
        cells += [str(d["attempts"]), str(d["answered"])]
        cells += ["-" if d[k] is None else str(d[k]) for k in ("asr", "ner", "acd")]
        cells += ["-" if d[k] is None else str(d[k]) for k in ("pdd_p50", "pdd_p95")]
        table.add_row(*cells)
    console.print(table)
    skipped = ", ".join(f"{k} {v}" for k, v in sorted(result.skipped.items()))
    click.echo(f"{result.rows_in} CDRs read" + (f"; not counted: {skipped}" if skipped else ""))


@global_options
@click.command("quality")
@click.argument("cdrs", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--by",
    type=click.Choice(["carrier", "carrier,destination"]),
    default="carrier,destination",
    show_default=True,
    help="One row per carrier, or per carrier and destination group.",
)
@cdr_format_option()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@cdr_timezone_option()
@click.option(
    "--map",
    "map_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML mapping CDR account names to Tandem names ([customer] and [carrier] tables).",
)
@cdr_map_column_option("start, duration, number, carrier, call_id, disposition")
@click.option("--carrier", help="Carrier for CDRs that name none (e.g. FreeSWITCH).")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Routing TOML whose [quality] table sets window, half-life, prior weight, minimum "
    "attempts and group digits (default: plain figures over the whole file).",
)
@click.option(
    "--digits",
    type=click.IntRange(1, 15),
    help="Destination group: the first DIGITS digits of the number (default 4, or the "
    "config's group_digits).",
)
@click.option(
    "--destination-column",
    help="Group destinations by this CDR column (e.g. a destination name) instead of digits.",
)
@click.option(
    "--at",
    type=INSTANT,
    metavar="TIME",
    help=f"Read the figures at TIME ({INSTANT_FORMS}; default: the latest CDR start).",
)
@click.option(
    "--window",
    type=click.IntRange(min=1),
    help="Seconds of CDRs before --at that count (default: every CDR, or the config's).",
)
@click.option(
    "--half-life", type=click.FloatRange(min=0), help="Decay half-life, seconds (0: none)."
)
@click.option("--prior-weight", type=click.FloatRange(min=0), help="Shrinkage weight k.")
@click.option("--min-attempts", type=click.IntRange(min=1), help="Fewer attempts: unknown.")
@cdr_batch_size_option("CDRs per batch read.")
@pass_ctx
def quality_command(
    ctx: CliContext,
    cdrs: Path,
    by: str,
    fmt: str,
    as_json: bool,
    timezone: str,
    map_file: Path | None,
    map_column: tuple[str, ...],
    carrier: str | None,
    config_file: Path | None,
    digits: int | None,
    destination_column: str | None,
    at: int | None,
    window: int | None,
    half_life: float | None,
    prior_weight: float | None,
    min_attempts: int | None,
    batch_size: int,
) -> None:
    """Carrier quality of the CDRS file: attempts, answered, ASR, NER (ITU-T E.411), ACD
    and PDD p50/p95 per carrier (and destination group), with the live board's outcome
    table and formulas.

    Without --config and the decay options the figures are plain: every CDR counts alike,
    no shrinkage. A CDR without a start, a carrier or a known answer code is not counted
    and is reported.
    """
    from tandem.cli.progress import progress
    from tandem.cli.rate import _column_map, cdr_count
    from tandem.lcr.policy import load_config
    from tandem.quality import QualityConfig, quality_table
    from tandem.rating.cdr import CdrReader, load_account_map

    if not cdrs.exists():
        raise CdrError(f"no such CDR file: {os.fspath(cdrs)}")
    if config_file is not None:
        base = load_config(config_file).quality
    else:
        base = QualityConfig(half_life=None, prior_weight=0.0, min_attempts=1)
    values: dict[str, Any] = {f: getattr(base, f) for f in base.__dataclass_fields__}
    if digits is not None:
        values["group_digits"] = digits
    if half_life is not None:
        values["half_life"] = half_life or None
    if prior_weight is not None:
        values["prior_weight"] = prior_weight
    if min_attempts is not None:
        values["min_attempts"] = min_attempts
    if window is not None:
        if window % values["bucket"]:
            raise ConfigError(
                f"--window must be a multiple of the bucket ({values['bucket']} s), got {window}"
            )
        values["window"] = window
    config = QualityConfig(**values)
    if window is None and config_file is not None:
        window = config.window
    _, carrier_map = load_account_map(map_file) if map_file else (None, None)
    reader = CdrReader(
        format=fmt,
        timezone=timezone,
        column_map=_column_map(map_column),
        carrier=carrier,
        carrier_map=carrier_map,
        batch_size=batch_size,
    )
    total = cdr_count(reader, cdrs)
    with progress("reading CDRs", total, enabled=ctx.show_progress) as bar:

        def batches() -> Any:
            for b in reader.batches(cdrs):
                bar.advance(b.num_rows)
                yield b

        result = quality_table(
            batches(),
            config=config,
            by=by,
            at=at,
            window=window,
            destination=destination_column,
        )
    if as_json:
        click.echo(json.dumps(result.to_dict()))
        return
    _render(result, by)
