"""`feeschedule parse FILE [--json]`: the one place in services/parsing that reads a file.

``parse_command`` is a plain function returning an exit status (0 read, 2 unreadable file);
``parse_cli`` is its typer-compatible face for ``app.command("parse")(parse_cli)``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from services.parsing.amounts import dollars
from services.parsing.filing import parse_filing
from services.parsing.model import ChangeReading, FilingReading, ScheduleReading

__all__ = ["describe_tiers", "parse_cli", "parse_command"]

# Filings are a few kB; anything far larger is not one filing and is read only up to this.
_MAX_BYTES = 8 * 1024 * 1024


def _money(amount: int) -> str:
    return dollars(amount).replace(" billion", "B").replace(" million", "M")


def describe_tiers(schedule: ScheduleReading | None) -> str:
    """'0.88% to $500M, 0.83% above' (flat: '0.90% on all assets')."""
    if schedule is None or not schedule.tiers:
        return "-"
    tiers = schedule.tiers
    if len(tiers) == 1 and tiers[0].from_ == 0 and tiers[0].to is None:
        return f"{tiers[0].rate_pct}% on all assets"
    return ", ".join(
        f"{t.rate_pct}% above" if t.to is None else f"{t.rate_pct}% to {_money(t.to)}"
        for t in tiers
    )


# The reading's fields that are not one value: the header shows the scalar ones, in order.
_LIST_FIELDS = ("prior_amendment_dates", "changes", "sections")


def _render(reading: FilingReading, console: Console) -> None:
    head = Table(show_header=False, box=None)
    for field in FilingReading.model_fields:
        if field in _LIST_FIELDS:
            continue
        value = getattr(reading, field)
        head.add_row(field, "-" if value is None else str(value))
    prior = ", ".join(d.isoformat() for d in reading.prior_amendment_dates) or "-"
    head.add_row("prior_amendment_dates", prior)
    console.print(head)
    table = Table(title=f"{len(reading.changes)} change(s)")
    for column in ("action", "portfolio", "formerly", "tiers", "parseable"):
        table.add_column(column, overflow="fold")
    for change in reading.changes:
        table.add_row(
            change.action,
            _who(change),
            change.formerly or "-",
            describe_tiers(change.schedule),
            "yes" if change.parseable else f"no: {change.note or ''}",
        )
    console.print(table)


def _who(change: ChangeReading) -> str:
    """The portfolio, or a group's members ('group of A + B')."""
    if change.group is not None:
        return "group of " + " + ".join(change.group.members)
    return change.portfolio or "-"


def parse_command(file: Path, json_output: bool) -> int:
    """Read FILE and print its reading; 2 with one line on stderr when it cannot be read."""
    try:
        with file.open("rb") as handle:
            data = handle.read(_MAX_BYTES)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        print(f"feeschedule parse: cannot read {file}: {reason}", file=sys.stderr)
        return 2
    reading = parse_filing(data.decode("utf-8", errors="replace"))
    if json_output:
        print(json.dumps(reading.model_dump(by_alias=True, mode="json"), indent=2))
    else:
        _render(reading, Console())
    return 0


def parse_cli(
    file: Path = typer.Argument(..., help="A filing: plain text or EDGAR exhibit text."),
    json_output: bool = typer.Option(False, "--json", help="Print the reading as JSON."),
) -> None:
    """Read one amendment filing and print its fee-schedule reading."""
    raise typer.Exit(parse_command(file, json_output))


def _register() -> None:
    from services.cli import app

    app.command("parse")(parse_cli)


_register()
