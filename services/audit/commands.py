"""Audit commands: `schedule` (which schedule applied, and why) and `history` (every version)."""

from __future__ import annotations

import json
from typing import Any

import redis
import typer
from rich.console import Console

from services.adapters.connection import sync_client
from services.adapters.eventstore import EventStore
from services.adapters.readmodel import ReadModel
from services.app import audit
from services.app.audit import Source, parse_date, parse_known_at
from services.cli import UsageProblem, app
from services.settings import Settings

console = Console(soft_wrap=True)


def _tiers_text(tiers: list[dict[str, Any]] | None) -> str:
    if not tiers:
        return "-"
    parts = []
    for t in tiers:
        upper = "and above" if t["to"] is None else f"to {int(t['to'].split('.')[0]):,}"
        parts.append(f"{t['rate_pct']}% from {int(t['from'].split('.')[0]):,} {upper}")
    return "; ".join(parts)


def _by(p: dict[str, Any]) -> str:
    return (
        f"agreement {p['agreement_id']}, Amendment No. {p['amendment_number']} ({p['action']}),"
        f" effective {p['amendment_effective_date']}; log position {p['position']},"
        f" recorded {p['recorded_at']}"
    )


def source_of(name: str, until: str = "+") -> Source:
    """Answers from the log (replay) or the read model, over this machine's Redis."""
    settings = Settings()
    client = sync_client(settings)
    return Source(name, EventStore(client, settings.keys), ReadModel(client, settings.keys), until)


@app.command()
def schedule(
    portfolio: str = typer.Argument(..., help="Portfolio id or any name it has had"),
    on: str = typer.Option(..., "--on", help="The date, YYYY-MM-DD"),
    as_known_at: str | None = typer.Option(
        None, "--as-known-at", help="Only what was recorded by this moment (ISO timestamp)"
    ),
    at_position: str | None = typer.Option(
        None, "--at-position", help="Only what the log held up to this entry id"
    ),
    source: str = typer.Option(
        "replay", "--source", help="replay (the log, via XRANGE) or read-model (the projector)"
    ),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object"),
) -> None:
    """Which schedule applied to PORTFOLIO on a date, and the amendment that set it."""
    day = parse_date("on", on)
    known_at = parse_known_at(as_known_at, at_position)
    until = at_position if at_position is not None and source == "replay" else "+"
    try:
        answer = audit.schedule_on(source_of(source, until), portfolio, day, known_at)
    except redis.exceptions.NoPermissionError:
        raise UsageProblem(
            "source: 'read-model' runs the read model's scripts (EVALSHA), which this Redis"
            " user may not (the auditor role may not); --source replay reads the log alone"
        ) from None
    if json_output:
        print(json.dumps(answer, indent=2))
        return
    known = "as known now" if known_at is None else f"as known at {known_at}"
    console.print(
        f"[bold]{answer['name'] or answer['portfolio_id']}[/bold] ({answer['portfolio_id']})"
        f" on {answer['on']}, {known} (source: {answer['source']})",
        highlight=False,
    )
    set_by = answer["set_by"]
    if set_by is None:
        console.print(f"no schedule: nothing recorded is effective on {answer['on']}")
        return
    if answer["removed"]:
        console.print(f"no schedule: removed by {_by(set_by)}", highlight=False)
        return
    label = "waiver" if set_by["waiver"] else "set by"
    console.print(f"{label}: {_by(set_by)}", highlight=False)
    if answer["waived_schedule_set_by"] is not None:
        console.print(f"waives the schedule of {_by(answer['waived_schedule_set_by'])}")
    console.print(f"tiers: {_tiers_text(answer['tiers'])}", highlight=False)


@app.command()
def history(
    portfolio: str = typer.Argument(..., help="Portfolio id or any name it has had"),
    source: str = typer.Option("replay", "--source", help="replay or read-model"),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object"),
) -> None:
    """Every version of PORTFOLIO's schedule: amendment, effective interval, log position."""
    result = audit.history(source_of(source), portfolio)
    if json_output:
        print(json.dumps(result, indent=2))
        return
    names = ", ".join(dict.fromkeys(n["name"] for n in result["names"]))
    console.print(f"[bold]{result['portfolio_id']}[/bold] — names: {names}", highlight=False)
    # One block per version rather than a table: nothing gets cut at any terminal width.
    for v in result["versions"]:
        status = "in force" if v["in_force"] else "superseded"
        if v["retracted"] is not None:
            status = f"RETRACTED at log position {v['retracted']['position']}"
        until = v["effective_to"] or "open"
        console.print(
            f"Amendment No. {v['amendment_number']} ({v['action']})"
            f"  effective {v['effective_from']} .. {until}  [{status}]",
            highlight=False,
            markup=False,
        )
        console.print(f"    tiers: {_tiers_text(v['tiers'])}", highlight=False)
        console.print(
            f"    agreement {v['agreement_id']}; recorded {v['recorded_at']};"
            f" log position {v['position']}",
            highlight=False,
        )
