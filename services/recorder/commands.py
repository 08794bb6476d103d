"""Recorder commands: `register-agreement`, `amend --file`, `retract`."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer

from contracts.messages import AgreementRegistered, AmendmentRetracted
from services.adapters.connection import sync_client
from services.adapters.eventstore import AppendResult, EventStore
from services.cli import UsageProblem, _parse_date, app
from services.recorder.amendment_file import amendment_from_reading
from services.recorder.recorder import AgreementCommand, Recorder
from services.settings import Settings


def _recorder() -> Recorder:
    settings = Settings()
    return Recorder(EventStore(sync_client(settings), settings.keys))


def _report(command: AgreementCommand, result: AppendResult) -> None:
    what = f"{command.type} for agreement {command.agreement_id!r}"
    if result.duplicate:
        print(f"already recorded: {what} is log entry {result.entry_id}; nothing appended")
    else:
        print(f"recorded {what}: log entry {result.entry_id}, agreement version {result.version}")


@app.command("register-agreement")
def register_agreement(
    agreement: str = typer.Option(..., "--agreement", help="Agreement id, e.g. met-investors"),
    trust: str | None = typer.Option(None, "--trust", help="The trust (fund family)"),
    adviser: str | None = typer.Option(None, "--adviser", help="The fee-receiving adviser"),
    agreement_date: str | None = typer.Option(None, "--agreement-date", help="YYYY-MM-DD"),
    day_count: str = typer.Option("ACT/365F", "--day-count", help="ACT/365F, ACT/ACT or ACT/360"),
    rounding: str = typer.Option("ROUND_HALF_UP:0.01", "--rounding", help="MODE:QUANTUM"),
) -> None:
    """Register a management agreement (its day count and rounding) before its amendments."""
    command = AgreementRegistered.model_validate(
        {
            "agreement_id": agreement,
            "trust": trust,
            "adviser": adviser,
            "agreement_date": (
                None if agreement_date is None else _parse_date("agreement_date", agreement_date)
            ),
            "day_count": day_count.upper(),
            "rounding": rounding,
        }
    )
    _report(command, _recorder().record(command))


def _read_json(path: Path) -> tuple[dict[str, Any], bytes]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageProblem(f"--file: {str(path)!r} cannot be read ({exc.strerror})") from None
    try:
        reading = json.loads(raw, parse_float=Decimal)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageProblem(f"--file: {str(path)!r} is not valid JSON ({exc})") from None
    if not isinstance(reading, dict):
        raise UsageProblem(f"--file: {str(path)!r} must hold one JSON object")
    return reading, raw


@app.command()
def amend(
    file: Path = typer.Option(..., "--file", help="Amendment reading (JSON, corpus shape)"),
    agreement: str | None = typer.Option(
        None, "--agreement", help="Agreement id (default: the file's, else a slug of its trust)"
    ),
) -> None:
    """Record an amendment from a JSON reading of the filed document."""
    reading, raw = _read_json(file)
    command = amendment_from_reading(reading, agreement)
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
