"""The plain wire format of every stream entry the service writes.

Fields: `type` (message type name), `event_id`, `schema_version`, and `data` (the message as a
JSON object, decimals as strings). Any Redis client can read and filter them without FastStream.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TypeVar

from pydantic import ValidationError

from contracts.messages import MESSAGE_TYPES, Message

M = TypeVar("M", bound=Message)

MAX_ENTRY_BYTES = 256 * 1024


class WireError(ValueError):
    """An entry that is not a valid message; the text names the field and the value."""


def encode(message: Message) -> dict[str, str]:
    return {
        "type": message.type,
        "event_id": message.event_id,
        "schema_version": str(message.schema_version),
        "data": message.model_dump_json(by_alias=True),
    }


def _text(value: bytes | str, name: str) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise WireError(f"{name}: is not valid UTF-8 ({value[:40]!r})") from None
    return value


def decode_fields(fields: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    """Stream entry fields as text; refuses oversized entries and undecodable bytes."""
    size = sum(len(k) + len(v) for k, v in fields.items())
    if size > MAX_ENTRY_BYTES:
        raise WireError(f"entry: {size} bytes exceeds the limit of {MAX_ENTRY_BYTES} bytes")
    return {_text(k, "field name"): _text(v, _text(k, "field name")) for k, v in fields.items()}


def first_error(exc: ValidationError) -> str:
    """One line naming the field and the value that failed."""
    err = exc.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in err["loc"]) or "message"
    value = err.get("input")
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return f"{loc}: {shown} {err['msg']}"


def parse_message(raw: str | bytes | Mapping[str, object], expected: type[M]) -> M:
    """Validate the JSON `data` of an entry as `expected`, with a one-line error."""
    try:
        if isinstance(raw, Mapping):
            return expected.model_validate(raw)
        return expected.model_validate_json(raw)
    except ValidationError as exc:
        raise WireError(first_error(exc)) from None


def decode(fields: Mapping[bytes | str, bytes | str]) -> Message:
    """The message in a stream entry (plain wire format, or FastStream's JSON envelope)."""
    text = decode_fields(fields)
    data = text.get("data")
    if data is None:
        raise WireError(f"data: missing (fields present: {sorted(text)[:10]})")
    try:
        payload = json.loads(data)
    except json.JSONDecodeError as exc:
        raise WireError(f"data: is not valid JSON ({exc.msg} at {exc.pos})") from None
    if not isinstance(payload, dict):
        raise WireError(f"data: {str(payload)[:40]!r} is not a JSON object")
    # FastStream's own envelope nests the body; accept it too.
    if "type" not in payload and isinstance(payload.get("data"), dict):
        payload = payload["data"]
    kind = payload.get("type", text.get("type"))
    model = MESSAGE_TYPES.get(str(kind))
    if model is None:
        raise WireError(f"type: {kind!r} is not a known message type")
    return parse_message(payload, model)
