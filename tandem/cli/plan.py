"""``tandem plan``: import, list, show and export routing and tariff plan versions."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from tandem.cli.context import CliContext, global_options, pass_ctx
from tandem.cli.options import INSTANT, INSTANT_FORMS
from tandem.errors import ConfigError
from tandem.instant import format_instant

if TYPE_CHECKING:
    from tandem.lcr.plans import PlanImport
    from tandem.store import StoredPlan

F = TypeVar("F", bound=Callable[..., object])

__all__ = ["plan_group", "print_plan_import"]


def _when_text(t: int | datetime | None) -> str | None:
    return None if t is None else format_instant(t)


def _emit(obj: object) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2))


def _kind_option(default: str | None) -> Callable[[F], F]:
    return click.option(
        "--kind",
        type=click.Choice(["routing", "tariff"]),
        default=default,
        show_default=default is not None,
        help="routing: plans, carriers, translation, trunks (tandem route); tariff: grace, "
        "tiers, periods (tandem rate).",
    )


def _version_row(v: StoredPlan) -> dict[str, object]:
    return {
        "kind": v.kind,
        "version": v.version,
        "effective_from": _when_text(v.effective_from),
        "effective_until": _when_text(v.effective_until),
        "voided": v.voided,
        "imported_at": _when_text(v.imported_at),
        "source": v.source_name,
        "sha256": v.source_sha256,
    }


def print_plan_import(report: PlanImport) -> None:
    """A plan import for a person: the plan, the version it is compared with, the diff by
    section and key, and what was stored (or why nothing was)."""
    kind = report.kind
    click.echo(
        f"{kind} plan {report.source_name} (sha256 {report.sha256[:12]}), effective "
        f"{_when_text(report.effective_from)}"
    )
    prev = report.previous
    against = (
        f"version {prev.version} ({prev.source_name}, effective {_when_text(prev.effective_from)})"
        if prev is not None
        else "nothing (no version in force then)"
    )
    click.echo(f"  against {against}")
    counts = report.diff.counts()
    click.echo("  sections: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for line in report.diff.lines():
        click.echo(f"  {line}")
    if report.skipped and prev is not None:
        click.echo(f"  skipped: same SHA-256 as version {prev.version}; nothing written")
    elif report.version is not None:
        click.echo(f"  stored as version {report.version.version}")
    else:
        click.echo("  dry run: nothing written")


@click.group("plan")
def plan_group() -> None:
    """Routing and tariff plans: versions with effective dates in the store, like decks."""


@global_options
@plan_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_kind_option("routing")
@click.option(
    "--effective", type=INSTANT, metavar="DATE",
    help=f"When the plan takes effect: {INSTANT_FORMS} (default: the import instant).",
)  # fmt: skip
@click.option(
    "--now", type=INSTANT, metavar="TIME",
    help=f"Pin the import instant: {INSTANT_FORMS} (default: the clock).",
)  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Validate and diff, write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def plan_import(
    ctx: CliContext,
    file: Path,
    kind: str,
    effective: int | None,
    now: int | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Import FILE (TOML) as a new version of the routing or tariff plan.

    The whole plan is validated first; an invalid plan is refused and nothing is stored.
    The diff is against the version in force at the effective date; a plan with the same
    SHA-256 as that version is skipped.
    """
    from tandem.lcr.plans import import_plan

    report = import_plan(
        ctx.store,
        file,
        kind=kind,
        effective=effective,
        now=now,
        dry_run=dry_run,
    )
    if as_json:
        _emit(report.to_dict())
        return
    if ctx.quiet:
        return
    print_plan_import(report)


@global_options
@plan_group.command("list")
@_kind_option(None)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def plan_list(ctx: CliContext, kind: str | None, as_json: bool) -> None:
    """List every stored plan version (by kind, oldest first)."""
    rows = [_version_row(v) for v in ctx.store.plan_versions(kind)]
    if as_json:
        _emit({"plans": rows})
        return
    if not rows:
        click.echo("no plans yet: import one with 'tandem plan import routing.toml'")
        return
    click.echo(f"{'KIND':<8} {'VER':>3} {'EFFECTIVE':<20} {'UNTIL':<20} {'SHA256':<12}  SOURCE")
    for r in rows:
        until = "voided" if r["voided"] else (r["effective_until"] or "open")
        click.echo(
            f"{r['kind']:<8} {r['version']:>3} {r['effective_from']:<20} {until:<20} "
            f"{str(r['sha256'])[:12]:<12}  {r['source']}"
        )


_version_options = [
    _kind_option("routing"),
    click.option(
        "--at",
        "at",
        type=INSTANT,
        metavar="TIME",
        help=f"The version in force at TIME: {INSTANT_FORMS} (default: now).",
    ),  # fmt: skip
    click.option("--version", "version", type=click.IntRange(min=1), help="This stored version."),
]


def _which_version(f: F) -> F:
    """``--kind``, ``--at`` and ``--version``: which stored version the command reads
    (:func:`_find`)."""
    for option in reversed(_version_options):
        f = option(f)
    return f


def _find(
    ctx: CliContext, kind: str, at: int | None, version: int | None
) -> tuple[StoredPlan, int | None]:
    """``(version, instant)``: the stored version asked for, and the instant it was looked
    up at (None with --version)."""
    from tandem.instant import now_instant
    from tandem.lcr.plans import find_plan

    if at is not None and version is not None:
        raise click.UsageError("say --at TIME or --version N, not both")
    if version is not None:
        return find_plan(ctx.store, kind, version=version), None
    t = now_instant() if at is None else at  # the edge's default, printed
    return find_plan(ctx.store, kind, at=t), t


@global_options
@plan_group.command("show")
@_which_version
@click.option("--summary", is_flag=True, help="The plan's sections instead of its text.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def plan_show(
    ctx: CliContext,
    kind: str,
    at: int | None,
    version: int | None,
    summary: bool,
    as_json: bool,
) -> None:
    """Show a plan version: its text as imported, or a summary of its sections."""
    from tandem.lcr.plans import diff_plans

    stored, t = _find(ctx, kind, at, version)
    sections = diff_plans(None, stored.text).added
    if as_json:
        _emit(dict(_version_row(stored), at=_when_text(t), sections=sections, text=stored.text))
        return
    until = "voided" if stored.voided else (_when_text(stored.effective_until) or "open")
    head = (
        f"{kind} plan version {stored.version} ({stored.source_name}), in force "
        f"[{_when_text(stored.effective_from)}, {until}), sha256 {stored.source_sha256[:12]}"
    )
    if summary:
        click.echo(head)
        click.echo(f"  {len(sections)} sections: {', '.join(sections) or 'none'}")
        return
    click.echo(f"# {head}", err=True)
    click.echo(stored.text, nl=False)


@global_options
@plan_group.command("export")
@_which_version
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML file to write ('-' for stdout); the bytes imported, re-importable.",
)
@pass_ctx
def plan_export(
    ctx: CliContext, kind: str, at: int | None, version: int | None, output: Path
) -> None:
    """Write a plan version's text, exactly as imported, to a file."""
    stored, t = _find(ctx, kind, at, version)
    data = stored.text.encode("utf-8")
    if str(output) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, output)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {os.fspath(output)!r}: {exc.strerror}") from None
    if not ctx.quiet:
        when = "" if t is None else f", in force at {format_instant(t)}"
        click.echo(
            f"{output}: {kind} plan version {stored.version} ({stored.source_name}){when}",
            err=True,
        )
