"""Reading an amendment file (the hand-checked reading of a filing) into `AmendmentRecorded`.

The file's rules are the model `contracts.amendment_file.AmendmentFile` (its JSON Schema is
contracts/schemas/AmendmentFile.json, an example contracts/examples/amendment.json): every file
is validated with it, so the schema and this reader never disagree. Without `agreement_id` and
`portfolio_id` the ids are stable slugs of the names. Pure: no I/O, so `feeschedule amend` and
`feeschedule ingest` share it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args

from pydantic import ValidationError

from contracts.amendment_file import (
    AmendmentFile,
    FeeMethodFileChange,
    FileChange,
    GroupFileChange,
    RemoveFileChange,
    RenameFileChange,
    SetScheduleFileChange,
    WaiverFileChange,
)
from contracts.messages import AmendmentRecorded
from contracts.wire import MAX_JSON_DEPTH, WireError, json_depth_exceeds, shown_value, strict_loads
from services.domain.errors import DomainError
from services.domain.names import normalise_portfolio_name, portfolio_id_for

# Every action a change may name, as the contract's variants declare them, in their order.
_ACTIONS = tuple(
    action
    for variant in get_args(get_args(FileChange)[0])
    for action in get_args(variant.model_fields["action"].annotation)
)


def agreement_id_for(reading: Mapping[str, Any]) -> str:
    """The agreement's stable id: the file's `agreement_id`, else a slug of trust, kind, date."""
    if given := reading.get("agreement_id"):
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


def _path(loc: tuple[int | str, ...]) -> str:
    """`changes[0].schedule.tiers[1].rate_pct`, as a person points into the file."""
    parts = list(loc)
    # A change is validated as the variant its action names, and pydantic puts that name in
    # the path (changes.0.revise.schedule): it is not a key of the file.
    if len(parts) > 2 and parts[0] == "changes" and parts[2] in _ACTIONS:
        del parts[2]
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")


def _file_error(exc: ValidationError) -> WireError:
    """One line naming the field and quoting the value: the first thing wrong in the file."""
    err = exc.errors(include_url=False)[0]
    where = _path(err["loc"]) or "file"
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        tag = (err.get("ctx") or {}).get("tag")
        return WireError(f"{where}.action: {shown_value(tag)} must be one of {', '.join(_ACTIONS)}")
    if err["type"] == "missing":
        return WireError(f"{where}: missing (a required field)")
    return WireError(f"{where}: {shown_value(err.get('input'))} {err['msg']}")


def _refuse_unparseable(data: Mapping[str, Any]) -> None:
    # Said before anything else the model would find wrong with such a change: the note says
    # why the reading is uncertain, which is what the operator has to fix.
    changes = data.get("changes")
    for i, change in enumerate(changes if isinstance(changes, list) else []):
        if isinstance(change, Mapping) and change.get("parseable") is False:
            note = change.get("note") or "no note"
            raise DomainError(
                f"changes[{i}].parseable",
                False,
                f"({change.get('portfolio')!r}) cannot be recorded as read: {note}"
                " — supply the change fixed (with parseable: true)",
            )


def validate_amendment_file(data: Any) -> AmendmentFile:
    """`data` (JSON values) as an AmendmentFile; WireError or DomainError names the field."""
    if not isinstance(data, dict):
        raise DomainError("file", type(data).__name__, "must be a JSON object")
    _refuse_unparseable(data)
    try:
        return AmendmentFile.model_validate(data, by_name=False)
    except ValidationError as exc:
        raise _file_error(exc) from None


def load_amendment_file(raw: bytes) -> AmendmentFile:
    """An amendment file's bytes, read as the wire reads JSON (duplicate keys, NaN, overlong
    numbers refused) and validated."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise WireError(f"file: is not valid UTF-8 ({raw[:40]!r})") from None
    if json_depth_exceeds(text):
        raise WireError(f"file: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        data = strict_loads(text)
    except ValueError as exc:
        raise WireError(f"file: is not valid JSON ({exc})") from None
    return validate_amendment_file(data)


def _group_changes(change: GroupFileChange) -> list[dict[str, Any]]:
    """The group's schedule, after the renames of its members the same amendment renames."""
    # A renamed member keeps the id it had under its former name.
    formerly = change.group.formerly or {}
    members = change.group.members
    ids = change.group.member_ids or [
        portfolio_id_for(normalise_portfolio_name(formerly.get(raw, raw))) for raw in members
    ]
    if len(ids) != len(members):
        raise DomainError("group.member_ids", ids, "must give one id for each member")
    renames = [
        _rename(pid, name, formerly[name])
        for name, pid in zip(members, ids, strict=True)
        if name in formerly
    ]
    grouped = {
        "action": "group",
        "group_id": change.group.group_id or portfolio_id_for(" ".join(sorted(ids))),
        "members": ids,
        "tiers": change.schedule.tiers,
        "allocation": change.allocation,
    }
    return [*renames, grouped]


def _rename(pid: str, name: str, former: str | None) -> dict[str, Any]:
    """The rename change of a portfolio (names as the file wrote them; no former name: none
    on record)."""
    return {
        "action": "rename",
        "portfolio_id": pid,
        "new_name": normalise_portfolio_name(name),
        "former_name": normalise_portfolio_name(former) if former else None,
    }


def _changes(change: FileChange) -> list[dict[str, Any]]:
    if isinstance(change, GroupFileChange):  # the group's: no one portfolio
        return _group_changes(change)
    if isinstance(change, FeeMethodFileChange):  # the agreement's: no portfolio
        return [
            {"action": "fee_method", "method": change.method, "average_over": change.average_over}
        ]
    name = normalise_portfolio_name(change.portfolio)
    # A renamed portfolio keeps the id it had under its former name.
    pid = change.portfolio_id or portfolio_id_for(change.formerly or change.portfolio)
    out: list[dict[str, Any]] = []
    if isinstance(change, RenameFileChange) or change.formerly:
        out.append(_rename(pid, change.portfolio, change.formerly))
    if isinstance(change, RemoveFileChange):
        out.append({"action": "remove", "portfolio_id": pid})
    elif change.schedule is not None:  # a set or a waiver, or a rename that also sets a schedule
        scheduled = {"portfolio_id": pid, "portfolio_name": name, "tiers": change.schedule.tiers}
        if isinstance(change, WaiverFileChange):
            out.append({"action": "waiver", **scheduled, "period": change.period})
        else:
            action = change.action if isinstance(change, SetScheduleFileChange) else "revise"
            # A schedule restated in whole sets each portfolio's schedule as a replace does.
            action = "replace" if action == "replace_in_whole" else action
            out.append({"action": action, **scheduled})
    return out


def amendment_from_file(file: AmendmentFile, agreement_id: str | None) -> AmendmentRecorded:
    """The `AmendmentRecorded` event an amendment file states."""
    # The file's fields as JSON values are the reading agreement_id_for takes.
    agreement = agreement_id or agreement_id_for(file.model_dump(mode="json"))
    return AmendmentRecorded.model_validate(
        {
            "agreement_id": agreement,
            "amendment_number": file.amendment_number,
            "effective_date": file.effective_date,
            "executed_date": file.executed_date,
            "source": {
                "title": file.document_title,
                "url": file.source_url,
                "sha256": file.source_sha256,
            },
            "changes": [c for change in file.changes for c in _changes(change)],
        }
    )


def amendment_from_reading(reading: dict[str, Any], agreement_id: str | None) -> AmendmentRecorded:
    """The `AmendmentRecorded` event a reading (an amendment file's JSON values) states."""
    return amendment_from_file(validate_amendment_file(reading), agreement_id)
