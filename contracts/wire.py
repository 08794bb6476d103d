"""The plain wire format of every stream entry the service writes.

Fields: `type` (message type name), `event_id`, `schema_version`, and `data` (the message as a
JSON object, decimals as strings). Any Redis client can read and filter them without FastStream.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from typing import TypeVar

from pydantic import ValidationError

from contracts.messages import MESSAGE_TYPES, Message

M = TypeVar("M", bound=Message)

MAX_ENTRY_BYTES = 256 * 1024

# What a FastStream publisher writes: one field holding its binary format (v1) or JSON envelope.
FASTSTREAM_FIELD = "__data__"
_FASTSTREAM_MAGIC = b"\x89BIN\r\n\x1a\n"


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


def _check_size(fields: Mapping[bytes | str, bytes | str]) -> None:
    size = sum(len(k) + len(v) for k, v in fields.items())
    if size > MAX_ENTRY_BYTES:
        raise WireError(f"entry: {size} bytes exceeds the limit of {MAX_ENTRY_BYTES} bytes")


def decode_fields(fields: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    """Stream entry fields as text; refuses oversized entries and undecodable bytes."""
    _check_size(fields)
    return {_text(k, "field name"): _text(v, _text(k, "field name")) for k, v in fields.items()}


def _faststream_body(raw: bytes | str) -> str:
    """The body of a FastStream-published entry: binary format v1, else its JSON as is."""
    data = raw.encode() if isinstance(raw, str) else raw
    # Layout: magic (8 bytes), version (2), headers offset (4), body offset (4), headers, body.
    if data.startswith(_FASTSTREAM_MAGIC) and len(data) >= 18:
        (body_start,) = struct.unpack(">I", data[14:18])
        data = data[body_start:]
    return _text(data, FASTSTREAM_FIELD)


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
    published = fields.get(FASTSTREAM_FIELD, fields.get(FASTSTREAM_FIELD.encode()))
    if published is not None:
        _check_size(fields)
        text = {"data": _faststream_body(published)}
    else:
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
    # FastStream's own envelope nests the body (an object, or JSON text beside its headers).
    inner = payload.get("data") if "type" not in payload else None
    if isinstance(inner, str):
        try:
            inner = json.loads(inner)
        except json.JSONDecodeError as exc:
            raise WireError(f"data.data: is not valid JSON ({exc.msg} at {exc.pos})") from None
    if isinstance(inner, dict):
        payload = inner
    kind = payload.get("type", text.get("type"))
    model = MESSAGE_TYPES.get(str(kind))
    if model is None:
        raise WireError(f"type: {kind!r} is not a known message type")
    return parse_message(payload, model)
