"""Recorder commands: `register-agreement`, `amend --file`, `retract`."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from contracts.messages import (
    AgreementRegistered,
    AmendmentRecorded,
    AmendmentRetracted,
    FeeMethodChange,
    GroupScheduleChange,
)
from contracts.wire import strict_loads
from services.adapters.connection import sync_client
from services.adapters.eventstore import AppendResult, EventStore
from services.app.amendment_file import amendment_from_file, load_amendment_file
from services.app.audit import parse_date
from services.app.ingest import IngestOptions, IngestPlan, ingest_document
from services.app.recording import AgreementCommand, Recorder
from services.cli import UsageProblem, app, console, read_input
from services.settings import Settings


def _recorder(settings: Settings | None = None) -> Recorder:
    settings = Settings() if settings is None else settings
    log = EventStore(sync_client(settings), settings.keys)
    return Recorder(log, deadline_s=settings.record_deadline_ms / 1000)


def _report(command: AgreementCommand, result: AppendResult) -> None:
    what = f"{command.type} for agreement {command.agreement_id!r}"
    if result.duplicate:
        print(f"already recorded: {what} is log entry {result.entry_id}; nothing appended")
    else:
        print(f"recorded {what}: log entry {result.entry_id}, agreement version {result.version}")
    if isinstance(command, AmendmentRecorded):
        # The ids were derived from names unless the file gave them: show which ones they are,
        # since `schedule`, `accruals` and the net-asset reports use them.
        for i, change in enumerate(command.changes, 1):
            if isinstance(change, FeeMethodChange):
                print(f"  change {i}: fee method {change.method} ({change.average_over})")
            elif isinstance(change, GroupScheduleChange):
                members = ", ".join(change.members)
                print(f"  change {i}: group {change.group_id} schedule ({members})")
            else:
                name = getattr(change, "new_name", None) or getattr(change, "portfolio_name", None)
                named = f" ({name})" if name else ""
                print(f"  change {i}: {change.action} portfolio {change.portfolio_id}{named}")


@app.command("register-agreement")
def register_agreement(
    agreement: str = typer.Option(..., "--agreement", help="Agreement id, e.g. met-investors"),
    trust: str | None = typer.Option(None, "--trust", help="The trust (fund family)"),
    adviser: str | None = typer.Option(None, "--adviser", help="The fee-receiving adviser"),
    agreement_date: str | None = typer.Option(None, "--agreement-date", help="YYYY-MM-DD"),
    day_count: str | None = typer.Option(
        None, "--day-count", help="ACT/365F, ACT/ACT or ACT/360 (default: FEES_DAY_COUNT)"
    ),
    rounding: str | None = typer.Option(
        None,
        "--rounding",
        help="MODE:QUANTUM, or MODE:QUANTUM:month-to-date to tie each month to the cent"
        " (default: FEES_ROUNDING)",
    ),
    currency: str = typer.Option(
        "USD", "--currency", help="ISO 4217 code of the breakpoints and of every report"
    ),
    fee_base: str = typer.Option(
        "same_day",
        "--fee-base",
        help="same_day, or prior_day: the days from D are priced on the report before D",
    ),
    fee_method: str = typer.Option(
        "daily",
        "--fee-method",
        help="daily (sum of the daily accruals), average_daily_net_assets or monthly_twelfth",
    ),
    average_over: str = typer.Option(
        "calendar_days", "--average-over", help="calendar_days or business_days"
    ),
    invoice_tolerance: str = typer.Option(
        "0.01", "--invoice-tolerance", help="An invoice matches within this amount..."
    ),
    invoice_tolerance_pct: str = typer.Option(
        "0.01", "--invoice-tolerance-pct", help="...or this percent of the fee, the larger"
    ),
) -> None:
    """Register a management agreement (its day count and rounding) before its amendments."""
    settings = Settings()
    command = AgreementRegistered.model_validate(
        {
            "agreement_id": agreement,
            "trust": trust,
            "adviser": adviser,
            "agreement_date": (
                None if agreement_date is None else parse_date("agreement_date", agreement_date)
            ),
            "day_count": (day_count or settings.day_count).upper(),
            "rounding": rounding or settings.rounding,
            "currency": currency,
            "fee_base": fee_base,
            "fee_method": fee_method,
            "average_over": average_over,
            "invoice_tolerance": invoice_tolerance,
            "invoice_tolerance_pct": invoice_tolerance_pct,
        }
    )
    _report(command, _recorder(settings).record(command))


def _read_json(path: Path, option: str) -> dict[str, Any]:
    """A JSON object read as the contracts read JSON (duplicate keys, NaN refused; numbers
    stay numbers, so a float where a decimal string belongs is refused by its model)."""
    raw = read_input(path, option)
    try:
        reading = strict_loads(raw)
    except (ValueError, RecursionError) as exc:
        raise UsageProblem(f"{option}: {str(path)!r} is not valid JSON ({exc})") from None
    if not isinstance(reading, dict):
        raise UsageProblem(f"{option}: {str(path)!r} must hold one JSON object")
    return reading


@app.command()
def amend(
    file: Path = typer.Option(
        ..., "--file", help="Amendment file (JSON: contracts/schemas/AmendmentFile.json)"
    ),
    agreement: str | None = typer.Option(
        None, "--agreement", help="Agreement id (default: the file's, else a slug of its trust)"
    ),
) -> None:
    """Record an amendment from an amendment file (a JSON reading of the filed document)."""
    raw = read_input(file, "--file")
    command = amendment_from_file(load_amendment_file(raw), agreement)
    # The same filing recorded twice is a retry: key on the bytes of the reading.
    key = "filing:" + hashlib.sha256(raw).hexdigest()
    _report(command, _recorder().record(command, idempotency_key=key))


@app.command()
def retract(
    agreement: str = typer.Option(..., "--agreement", help="Agreement id"),
    amendment: int = typer.Option(..., "--amendment", help="Amendment number to withdraw"),
    reason: str = typer.Option(..., "--reason", help="Why (kept in the log)"),
) -> None:
    """Withdraw a recorded amendment (a new event; the original stays in the log)."""
    command = AmendmentRetracted.model_validate(
        {"agreement_id": agreement, "amendment_number": amendment, "reason": reason}
    )
    _report(command, _recorder().record(command))


def _render_plan(plan: IngestPlan, title: str | None) -> None:
    heading = (
        f"{title or 'Filing'}: agreement {plan.agreement_id}, amendment"
        f" {plan.amendment_number if plan.amendment_number is not None else '?'},"
        f" effective {plan.effective_date or '?'}"
    )
    table = Table(title=heading, show_lines=True)
    for column in ("portfolio", "id", "action", "schedule before", "schedule after", "note"):
        table.add_column(column, overflow="fold")
    for change in plan.changes:
        action = change.action
        if change.action != change.written_action:
            action = f"{change.written_action} -> {change.action}"
        if change.formerly:
            action += f" (formerly {change.formerly})"
        table.add_row(
            change.portfolio or "(none named)",
            change.portfolio_id or "",
            action,
            change.before.describe() if change.before else "",
            change.after.describe() if change.after else "",
            (change.refused and f"[red]cannot record: {change.refused}[/red]") or change.note or "",
        )
    console.print(table)


@app.command()
def ingest(
    file: Path = typer.Argument(..., help="The filed amendment (EDGAR text or HTML-ish text)"),
    agreement: str | None = typer.Option(
        None, "--agreement", help="Agreement id (default: a slug of trust, kind and date)"
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan; record nothing"),
    override: Path | None = typer.Option(
        None, "--override", help="Corrections in the reading's JSON shape (fields and changes)"
    ),
    skip_unparseable: bool = typer.Option(
        False, "--skip-unparseable", help="Record the readable changes, skip the others"
    ),
    apply_removals: bool = typer.Option(
        False,
        "--apply-removals",
        help="A restated schedule: remove the portfolios on record that it leaves out",
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Refuse revisions of portfolios not on record (no first-known)"
    ),
) -> None:
    """Parse a filing, show what it changes (old vs new schedule), and record it once."""
    raw = read_input(file, "file")
    fixes = _read_json(override, "--override") if override is not None else None
    settings = Settings()
    outcome = ingest_document(
        EventStore(sync_client(settings), settings.keys),
        raw,
        IngestOptions(
            agreement=agreement,
            override=fixes,
            strict=strict,
            skip_unparseable=skip_unparseable,
            apply_removals=apply_removals,
            dry_run=dry_run,
            day_count=settings.day_count,
            rounding=settings.rounding,
            deadline_s=settings.record_deadline_ms / 1000,
        ),
        on_plan=_render_plan,
    )
    if outcome.seen is not None:
        print(
            f"already recorded: document sha256 {outcome.sha256[:12]} is log entry {outcome.seen}"
        )
    elif not outcome.recorded:
        print("dry run: nothing recorded")
    for command, result in outcome.recorded:
        _report(command, result)
