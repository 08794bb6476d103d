"""Reading an amendment file (the hand-checked reading of a filing) into `AmendmentRecorded`.

The file has the shape of the corpus readings (`expected/*.json`), plus an optional top-level
`agreement_id` and an optional `portfolio_id` per change; without them ids are stable slugs of
the names. Pure: no I/O, so `feeschedule amend` and `feeschedule ingest` share it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contracts.messages import AmendmentRecorded
from services.domain.errors import DomainError
from services.domain.names import normalise_portfolio_name, portfolio_id_for

_SET_ACTIONS = {
    "add": "add",
    "revise": "revise",
    "replace": "replace",
    "replace_in_whole": "replace",
}


def agreement_id_for(reading: Mapping[str, Any]) -> str:
    """The agreement's stable id: the file's `agreement_id`, else a slug of trust, kind, date."""
    given = reading.get("agreement_id")
    if given:
        return str(given)
    trust = reading.get("trust")
    if not trust:
        raise DomainError(
            "agreement_id", None, "is missing and the file names no trust (pass --agreement)"
        )
    kind = reading.get("agreement_type") or "management"
    if kind == "unknown":
        kind = "management"
    # One trust can have several agreements of a kind (a 2000 and a 2004 management agreement):
    # the agreement date tells them apart.
    dated = reading.get("agreement_date") or ""
    return portfolio_id_for(f"{trust} {kind} {dated}")


def _portfolio(change: Mapping[str, Any], where: str) -> tuple[str, str]:
    written = change.get("portfolio")
    if not isinstance(written, str) or not written.strip():
        raise DomainError(f"{where}.portfolio", written, "must name the portfolio")
    name = normalise_portfolio_name(written)
    formerly = change.get("formerly")
    # A renamed portfolio keeps the id it had under its former name.
    pid = change.get("portfolio_id") or portfolio_id_for(formerly or written)
    return str(pid), name


def _tiers(change: Mapping[str, Any], where: str) -> list[Any]:
    schedule = change.get("schedule")
    tiers = schedule.get("tiers") if isinstance(schedule, Mapping) else None
    if not isinstance(tiers, list) or not tiers:
        raise DomainError(f"{where}.schedule", schedule, "must have a list of tiers")
    return tiers


def _changes(change: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    action = change.get("action")
    if change.get("parseable") is False:
        note = change.get("note") or "no note"
        raise DomainError(
            f"{where}.parseable",
            False,
            f"({change.get('portfolio')!r}) cannot be recorded as read: {note}"
            " — supply the change fixed (with parseable: true)",
        )
    pid, name = _portfolio(change, where)
    formerly = change.get("formerly")
    out: list[dict[str, Any]] = []
    if action == "rename" or formerly:
        former = normalise_portfolio_name(formerly) if formerly else None
        out.append(
            {"action": "rename", "portfolio_id": pid, "new_name": name, "former_name": former}
        )
        if action == "rename" and not change.get("schedule"):
            return out
    if action in _SET_ACTIONS or (action == "rename" and change.get("schedule")):
        set_action = _SET_ACTIONS.get(str(action), "revise")
        out.append(
            {
                "action": set_action,
                "portfolio_id": pid,
                "portfolio_name": name,
                "tiers": _tiers(change, where),
            }
        )
    elif action == "waiver":
        period = change.get("period")
        if not isinstance(period, Mapping) or not period.get("from") or not period.get("to"):
            raise DomainError(f"{where}.period", period, "a waiver needs a period {from, to}")
        out.append(
            {
                "action": "waiver",
                "portfolio_id": pid,
                "portfolio_name": name,
                "tiers": _tiers(change, where),
                "period": {"from": period["from"], "to": period["to"]},
            }
        )
    elif action == "remove":
        out.append({"action": "remove", "portfolio_id": pid})
    elif action != "rename":
        allowed = "add, revise, replace, replace_in_whole, waiver, remove, rename"
        raise DomainError(f"{where}.action", action, f"must be one of {allowed}")
    return out


def amendment_from_reading(reading: dict[str, Any], agreement_id: str | None) -> AmendmentRecorded:
    """The `AmendmentRecorded` event a reading states; DomainError names a wrong field."""
    if not isinstance(reading, dict):
        raise DomainError("file", type(reading).__name__, "must be a JSON object")
    number = reading.get("amendment_number")
    if number is None:
        raise DomainError("amendment_number", None, "is missing (the reading has no number)")
    if not reading.get("effective_date"):
        raise DomainError("effective_date", None, "is missing (the filing leaves it blank)")
    raw_changes = reading.get("changes")
    if not isinstance(raw_changes, list) or not raw_changes:
        raise DomainError("changes", raw_changes, "must be a non-empty list")
    changes: list[dict[str, Any]] = []
    for i, change in enumerate(raw_changes):
        if not isinstance(change, Mapping):
            raise DomainError(f"changes[{i}]", change, "must be an object")
        changes.extend(_changes(change, f"changes[{i}]"))
    source = {
        "title": reading.get("document_title"),
        "url": reading.get("source_url"),
        "sha256": reading.get("source_sha256"),
    }
    return AmendmentRecorded.model_validate(
        {
            "agreement_id": agreement_id or agreement_id_for(reading),
            "amendment_number": number,
            "effective_date": reading["effective_date"],
            "executed_date": reading.get("executed_date"),
            "source": source,
            "changes": changes,
        }
    )
