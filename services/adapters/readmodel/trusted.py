"""The rebuild's fast path: trusting, structurally, the amendments the recorder wrote.

Only the recorder may append to the log (see `services.ops.acl`), and it validated every event
before its Lua append. So a rebuild trusts entries that say they are amendments of schema
version 1: it parses their JSON and checks their structure where it reads it (each object has
exactly the recorder's keys, values of the right type and length), instead of building and
validating each message model. Values the fold stores are checked once per distinct value
(ids without whitespace, calendar dates, fee schedules accepted by the domain in canonical
form). Any entry that fails a check, or raises while being checked, takes the slow path
(`decode_entry`, full validation, dead letter if unreadable), so a malformed entry is never
folded silently.

`TrustedAmendments` checks a page of entries; the commonest entry (one change setting a
schedule) is read straight off its exact text with one regex (`_one_change_pattern`), the rest
from their parsed JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import date
from typing import Any, NamedTuple

from contracts.wire import MAX_ENTRY_BYTES
from services.adapters.readmodel.documents import json_text
from services.domain.errors import DomainError
from services.domain.fees import FeeSchedule

_ID = re.compile(r"[^\s]+")
# How the service writes a moment (UTC, "Z", microseconds unless zero); the date is checked apart.
_UTC_MOMENT = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{6})?Z"
)
_SHA256 = re.compile(r"[0-9a-f]{64}")
_DECIMAL = re.compile(r"(?:0|[1-9]\d*)(?:\.\d+)?")
# The recorder's shape: how many keys each object has (every one of them is read, so a count
# that matches means the keys are exactly these).
_AMENDMENT_KEYS = 10  # type, schema_version, event_id, occurred_at, agreement_id,
# amendment_number, effective_date, executed_date, source, changes
_CHANGE_KEYS = {"add": 4, "revise": 4, "replace": 4, "remove": 2, "rename": 4, "waiver": 5}


def _one_change_pattern() -> re.Pattern[str]:
    """The recorder's exact text of an amendment with one change that sets a schedule (by far
    the commonest entry), capturing what the fold reads. Strings without escapes only: their
    text is then their value, so a match reads exactly what `json.loads` would."""
    char = r'[^"\\\x00-\x1f]'  # a character of a JSON string that needs no escape
    ident = r'([^"\\\x00-\x20\s]{1,200})'  # no whitespace, as `_ID`
    day = r"([0-9]{4}-[0-9]{2}-[0-9]{2})"

    def maybe(pattern: str) -> str:
        return '(?:null|"' + pattern + '")'

    return re.compile(
        '{"type":"AmendmentRecorded","schema_version":1,'
        + f'"event_id":"{ident}","occurred_at":"({_UTC_MOMENT.pattern})",'
        + f'"agreement_id":"{ident}","amendment_number":(0|[1-9][0-9]{{0,17}}),'
        + f'"effective_date":"{day}","executed_date":{maybe(day)},'
        + '"source":{"title":'
        + maybe(char + "{0,1000}")
        + ',"sha256":'
        + maybe("[0-9a-f]{64}")
        + ',"url":'
        + maybe(char + "{0,2000}")
        + "},"
        + r'"changes":\[{"action":"(add|revise|replace)","portfolio_id":"'
        + ident
        + '","portfolio_name":"('
        + char
        + '{1,500})",'
        + r'"tiers":(\[[^\]\\]*\])}\]}'
    )


class OneChange(NamedTuple):
    """The commonest amendment, as read straight off its text: one change setting a schedule
    (see `_one_change_pattern`); folded by `Projection.apply_one` without building dicts."""

    event_id: str
    agreement_id: str
    amendment_number: int
    effective_date: str
    action: str
    portfolio_id: str
    portfolio_name: str
    tiers: str  # canonical `FeeSchedule.as_json` text
    recorded_at: str


Checked = OneChange | tuple[dict[str, Any], str] | None


def _text_of(value: Any, low: int, high: int) -> bool:
    return type(value) is str and low <= len(value) <= high


_ONE_CHANGE = _one_change_pattern()


class TrustedAmendments:
    """Checks pages of log entries for amendments exactly as this service writes them.

    `page(rows)` returns, per entry, a `OneChange` or `(amendment as JSON-like dicts,
    recorded at)` when the entry can be folded straight from its text (`Projection.apply_one`,
    `Projection.apply_trusted`), else None (the entry then goes through full validation).
    Fee schedules repeat across portfolios, so each distinct one is checked by the domain
    (`FeeSchedule.from_json`) once.
    """

    def __init__(self, limit: int = 100_000) -> None:
        self._ids: set[str] = set()
        self._days: set[str] = set()
        self._schedules: dict[tuple[Any, ...], str] = {}
        self._tier_texts: dict[str, str | None] = {}
        self._limit = limit

    def page(self, rows: Sequence[tuple[Any, Any]]) -> list[Checked]:
        out: list[Checked] = [None] * len(rows)
        where: list[int] = []
        data: list[bytes] = []
        one_change = self._one_change
        for i, (_, fields) in enumerate(rows):
            if (
                fields.get(b"type") == b"AmendmentRecorded"
                and len(fields) == 4
                and fields.get(b"schema_version") == b"1"
                and b"event_id" in fields
                and (raw := fields.get(b"data")) is not None
                and len(raw) <= MAX_ENTRY_BYTES
            ):
                try:
                    out[i] = one_change(raw.decode(), fields[b"event_id"])
                except Exception:  # anything unexpected: the JSON path (then full validation)
                    out[i] = None
                if out[i] is None:
                    where.append(i)
                    data.append(raw)
        if not data:
            return out
        try:
            parsed: list[Any] = json.loads(b"[" + b",".join(data) + b"]")
            if len(parsed) != len(data):
                raise ValueError("an entry is not one JSON value")
        except ValueError:
            parsed = []
            for raw in data:
                try:
                    parsed.append(json.loads(raw))
                except ValueError:
                    parsed.append(None)
        for i, a in zip(where, parsed, strict=True):
            try:
                accepted = type(a) is dict and self._accept(a, rows[i][1][b"event_id"])
            except Exception:  # anything unexpected: full validation decides
                accepted = False
            if accepted:
                # The moment as `datetime.isoformat` writes it (what the slow path stores).
                out[i] = (a, a["occurred_at"][:-1] + "+00:00")
        return out

    def _one_change(self, raw: str, event_id: bytes) -> OneChange | None:
        """The commonest entry read straight off its text (see `_one_change_pattern`), with the
        same checks as `_accept`; None sends it to the JSON path."""
        m = _ONE_CHANGE.fullmatch(raw)
        if m is None:
            return None
        (event, occurred, moment_day, agreement, number, effective, executed) = m.group(
            1, 2, 3, 4, 5, 6, 7
        )
        action, pid, name, tiers = m.group(8, 9, 10, 11)
        days, ids = self._days, self._ids
        if (
            event_id != event.encode()
            or (agreement not in ids and not self._id(agreement))
            or (pid not in ids and not self._id(pid))
            or (effective not in days and not self._day(effective))
            or (moment_day not in days and not self._day(moment_day))
            or (executed is not None and not self._day(executed))
        ):
            return None
        canonical = self._tier_texts.get(tiers)
        if canonical is None:
            if tiers in self._tier_texts:
                return None
            change = {"action": action, "portfolio_id": pid, "portfolio_name": name}
            change["tiers"] = json.loads(tiers)
            canonical = change["tiers"] if self._change(change) else None
            if len(self._tier_texts) >= self._limit:
                self._tier_texts.clear()
            self._tier_texts[tiers] = canonical
            if canonical is None:
                return None
        return OneChange(
            event,
            agreement,
            int(number),
            effective,
            action,
            pid,
            name,
            canonical,
            occurred[:-1] + "+00:00",
        )

    def _accept(self, a: dict[str, Any], event_id: bytes) -> bool:
        """The recorder's shape, checked where the fold reads it; replaces each schedule by its
        canonical JSON. May raise (a missing key, a wrong type): the caller then says no."""
        ids, days = self._ids, self._days
        number, changes, source = a["amendment_number"], a["changes"], a["source"]
        if (
            len(a) != _AMENDMENT_KEYS
            or a["type"] != "AmendmentRecorded"
            or type(a["schema_version"]) is not int
            or a["schema_version"] != 1
            or type(number) is not int
            or number < 0
            or type(changes) is not list
            or not 1 <= len(changes) <= 500
            or type(source) is not dict
            or len(source) != 3
        ):
            return False
        occurred, event, agreement = a["occurred_at"], a["event_id"], a["agreement_id"]
        effective, executed = a["effective_date"], a["executed_date"]
        title, sha, url = source["title"], source["sha256"], source["url"]
        moment = _UTC_MOMENT.fullmatch(occurred) if _text_of(occurred, 0, 64) else None
        if (
            moment is None
            or not _text_of(event, 1, 200)
            or event_id != event.encode()
            or _ID.fullmatch(event) is None
            or (agreement not in ids and not self._id(agreement))
            or (effective not in days and not self._day(effective))
            or (moment[1] not in days and not self._day(moment[1]))
            or (executed is not None and not self._day(executed))
            or (title is not None and not _text_of(title, 0, 1000))
            or (url is not None and not _text_of(url, 0, 2000))
            or (sha is not None and not (type(sha) is str and _SHA256.fullmatch(sha)))
        ):
            return False
        return all(self._change(change) for change in changes)

    def _change(self, change: dict[str, Any]) -> bool:
        action = change["action"]
        pid = change["portfolio_id"]
        if (
            type(change) is not dict
            or type(action) is not str
            or len(change) != _CHANGE_KEYS.get(action)
            or (pid not in self._ids and not self._id(pid))
        ):
            return False
        if action == "remove":
            return True
        if action == "rename":
            former = change["former_name"]
            return _text_of(change["new_name"], 1, 500) and (former is None or type(former) is str)
        name = change["portfolio_name"]
        if not (_text_of(name, 1, 500) or (name is None and action == "waiver")):
            return False
        tiers = change["tiers"]
        if type(tiers) is not list or not 1 <= len(tiers) <= 50:
            return False
        key = []
        for t in tiers:
            if type(t) is not dict or len(t) != 3:
                return False
            key.append((t["from"], t["to"], t["rate_pct"]))
        schedule = tuple(key)
        canonical = self._schedules.get(schedule) or self._schedule(schedule, tiers)
        if canonical is None:
            return False
        change["tiers"] = canonical
        if action == "waiver":
            period = change["period"]
            return (
                type(period) is dict
                and len(period) == 2
                and self._day(period["from"])
                and self._day(period["to"])
            )
        return True

    def _id(self, value: str) -> bool:
        if value in self._ids:
            return True
        if not _text_of(value, 1, 200) or _ID.fullmatch(value) is None:
            return False
        self._remember(self._ids, value)
        return True

    def _day(self, value: str) -> bool:
        if value in self._days:
            return True
        if not _text_of(value, 10, 10):
            return False
        try:
            if date.fromisoformat(value).isoformat() != value:
                return False
        except ValueError:
            return False
        self._remember(self._days, value)
        return True

    def _remember(self, known: set[str], value: str) -> None:
        if len(known) >= self._limit:
            known.clear()
        known.add(value)

    def _schedule(
        self, key: tuple[tuple[Any, ...], ...], tiers: list[dict[str, str | None]]
    ) -> str | None:
        """The schedule as `FeeSchedule.as_json` text, if the domain accepts it exactly so."""
        for start, end, rate in key:
            for value in (start, rate) if end is None else (start, end, rate):
                if not _text_of(value, 1, 64) or _DECIMAL.fullmatch(value) is None:
                    return None
        try:
            stored = FeeSchedule.from_json(tiers).as_json()
        except DomainError:
            return None
        if stored != tiers:
            return None
        if len(self._schedules) >= self._limit:
            self._schedules.clear()
        text = self._schedules[key] = json_text(stored)
        return text
