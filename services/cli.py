"""`feeschedule`: the command line of the fee-schedule service.

Each service owns its commands; this module gathers them and turns domain and input errors into
one line on stderr with exit status 2, and Redis problems and writes that lost every race to
other writers into one line with status 1; never a traceback.
"""

from __future__ import annotations

import importlib
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from contracts.scalars import plain_decimal
from contracts.wire import WireError, first_error
from services.domain.errors import DomainError
from services.domain.errors import UsageProblem as UsageProblem
from services.domain.fees import (
    Accrual,
    DayCount,
    FeeSchedule,
    RoundingPolicy,
    accrue,
    check_accrual_days,
    to_decimal,
)
from services.schedule_notation import parse_schedule_notation

app = typer.Typer(
    name="feeschedule",
    help="Management-fee schedules: record amendments, accrue fees, audit every fee.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()


def progress_bar(label: str, on: Console | None = None) -> Progress:
    """The bar every long wait shows (replays, rebuilds, the demo's accruals)."""
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, console=on or console)


@app.callback()
def root() -> None:
    """Management-fee schedules: record amendments, accrue fees, audit every fee."""


def read_input(path: Path | str, option: str) -> bytes:
    """The bytes of the file `option` names, or a usage error saying why it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UsageProblem(f"{option}: {str(path)!r} cannot be read ({exc.strerror})") from None


def _load_tiers(text: str) -> FeeSchedule:
    try:
        raw = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise DomainError("tiers", text[:60], f"is not valid JSON ({exc.msg})") from None
    if isinstance(raw, dict) and "tiers" in raw:
        raw = raw["tiers"]
    return FeeSchedule.from_json(raw)


@app.command()
def quote(
    net_assets: str = typer.Option(
        ..., "--net-assets", help="Average daily net assets, e.g. 750000000"
    ),
    as_of: str = typer.Option(..., "--as-of", help="Accrual date, YYYY-MM-DD"),
    tiers: str | None = typer.Option(
        None, "--tiers", help='Bands as JSON: [{"from":0,"to":500000000,"rate_pct":"0.88"},...]'
    ),
    schedule: str | None = typer.Option(
        None, "--schedule", help='Bands in short notation: "0.88% to 500M, 0.83%"'
    ),
    days: str = typer.Option("1", "--days", help="Accrual days (3 for a weekend)"),
    day_count: str = typer.Option("ACT/365F", "--day-count", help="ACT/365F, ACT/ACT or ACT/360"),
    rounding: str = typer.Option("ROUND_HALF_UP:0.01", "--rounding", help="MODE:QUANTUM"),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object"),
) -> None:
    """Price one accrual on a schedule: annual fee, daily amount, per-band breakdown."""
    # Imported here: the commands that need neither would pay for the audit queries' imports.
    from services.app.audit import parse_date

    if (tiers is None) == (schedule is None):
        raise DomainError("tiers", None, "give exactly one of --tiers or --schedule")
    fee_schedule = (
        _load_tiers(tiers) if tiers is not None else parse_schedule_notation(schedule or "")
    )
    accrual = accrue(
        fee_schedule,
        to_decimal("net_assets", net_assets),
        parse_date("as_of", as_of),
        accrual_days=check_accrual_days(days),
        day_count=DayCount.parse(day_count),
        rounding=RoundingPolicy.parse(rounding),
    )
    if json_output:
        print(json.dumps(_quote_json(accrual), indent=2))
    else:
        _print_quote(accrual)


def _quote_json(accrual: Accrual) -> dict[str, Any]:
    """`quote --json`: every figure as the wire writes it ("0.00000027", never "2.7E-7" or
    "-0")."""
    return {
        "as_of": accrual.as_of.isoformat(),
        "net_assets": plain_decimal(accrual.net_assets),
        "accrual_days": accrual.accrual_days,
        "day_count": accrual.day_count.value,
        "year_basis": accrual.year_basis,
        "rounding": accrual.rounding.name,
        "annual_fee": plain_decimal(accrual.annual_fee),
        "amount": plain_decimal(accrual.amount),
        "amount_exact": plain_decimal(accrual.amount_exact),
        "effective_rate_pct": plain_decimal(accrual.effective_rate_pct),
        "breakdown": [
            {
                **band.tier.as_json(),
                "assets_in_band": plain_decimal(band.assets_in_band),
                "charge": plain_decimal(band.annual_charge),
            }
            for band in accrual.breakdown
        ],
    }


def _print_quote(accrual: Accrual) -> None:
    """`quote` for a person: the bands as a table, then the totals."""
    table = Table(
        title=f"Fee on {accrual.as_of} ({accrual.day_count.value}, {accrual.accrual_days} day(s))"
    )
    for column in ("band", "rate %", "assets in band", "annual charge"):
        table.add_column(column, justify="right")
    for band in accrual.breakdown:
        upper = "and above" if band.tier.upper is None else f"to {band.tier.upper:,}"
        table.add_row(
            f"{band.tier.lower:,} {upper}",
            str(band.tier.rate_pct),
            f"{band.assets_in_band:,}",
            f"{band.annual_charge:,.2f}",
        )
    console.print(table)
    console.print(f"annual fee       {accrual.annual_fee:,.2f}")
    console.print(f"effective rate   {accrual.effective_rate_pct:.6f}%")
    console.print(f"accrual (exact)  {plain_decimal(accrual.amount_exact)}")
    console.print(f"accrual          [bold]{accrual.amount:,}[/bold]  ({accrual.rounding.name})")


# Each service owns its commands; importing its module adds them to `app`. This table says
# which module registers each top-level command, so a run imports only its own (`parse` then
# starts without FastStream or the Redis clients, in a third of the time). A test keeps it
# equal to what the modules register.
COMMAND_MODULES = {
    command: module
    for module, commands in (
        ("services.parsing.command", ("parse",)),
        ("services.recorder.commands", ("register-agreement", "amend", "retract", "ingest")),
        ("services.audit.commands", ("schedule", "history")),
        ("services.projector.commands", ("projector",)),
        ("services.runner", ("run",)),
        ("services.fee_worker.commands", ("accruals", "gaps", "close", "statement")),
        ("services.web.commands", ("web",)),
        ("services.ops.commands", ("acl", "config")),
        ("services.demo.commands", ("demo",)),
    )
    for command in commands
}
SERVICE_COMMAND_MODULES = tuple(dict.fromkeys(COMMAND_MODULES.values()))


def register_service_commands(command: str | None = None) -> typer.Typer:
    """Import the service command module that registers `command` (each registers itself on
    `app`), or every one when `command` is None or not known (help, a typo: typer then lists
    them all)."""
    own = COMMAND_MODULES.get(command or "")
    for module in (own,) if own else SERVICE_COMMAND_MODULES:
        importlib.import_module(module)
    return app


def _version_conflict(exc: Exception) -> bool:
    """Whether `exc` is the event store's VersionConflict (a write other writers kept beating).

    Looked up, not imported: if the event store was never loaded, `exc` cannot be one of its
    errors, and commands such as `parse` keep starting without redis.
    """
    store = sys.modules.get("services.adapters.eventstore")
    return store is not None and isinstance(exc, store.VersionConflict)


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else None
    if command != "quote":
        register_service_commands(command)
    try:
        code = app(standalone_mode=False)
    except (DomainError, WireError, UsageProblem, ValidationError) as exc:
        shown = first_error(exc) if isinstance(exc, ValidationError) else exc
        print(f"error: {shown}", file=sys.stderr)
        sys.exit(2)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        # Usage errors of the command-line layer (bad option, missing argument).
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            print(f"error: {exc.format_message()}", file=sys.stderr)
            sys.exit(2)
        # Redis unreachable, or refusing this user a command: the operator's to fix, so one
        # line rather than a traceback (checked by module: `parse` never imports redis).
        if type(exc).__module__.startswith("redis."):
            # A MOVED reply reads "<slot> <host:port>": say what it means.
            hint = (
                " (a Redis Cluster node redirected the command: set FEES_REDIS_CLUSTER=1)"
                if type(exc).__name__ == "MovedError"
                else ""
            )
            print(f"error: redis: {exc}{hint}", file=sys.stderr)
            sys.exit(1)
        # Nothing was recorded and the same command run again may well succeed: status 1, as
        # for Redis, since the input was not at fault.
        if _version_conflict(exc):
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(1)
        raise
    sys.exit(code if isinstance(code, int) else 0)
