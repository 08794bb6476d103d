"""The plain wire format of every stream entry the service writes.

Fields: `type` (message type name), `event_id`, `schema_version`, and `data` (the message as a
JSON object, decimals as strings). Any Redis client can read and filter them without FastStream.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from pydantic import ValidationError

from contracts.messages import MESSAGE_TYPES, Message

M = TypeVar("M", bound=Message)

MAX_ENTRY_BYTES = 256 * 1024

# What a FastStream publisher writes: one field holding its binary format (v1) or JSON envelope.
FASTSTREAM_FIELD = "__data__"
_FASTSTREAM_MAGIC = b"\x89BIN\r\n\x1a\n"


WireCode = Literal[
    "invalid_encoding", "too_large", "too_deep", "invalid_json", "unknown_type", "invalid_field"
]

# Deeper JSON than any message has is refused before parsing (json.loads would recurse).
MAX_JSON_DEPTH = 32


class WireError(ValueError):
    """An entry that is not a valid message; the text names the field and the value.

    `code` says which kind of problem it is, for machines (DeadLetter.code).
    """

    def __init__(self, message: str, code: WireCode = "invalid_field") -> None:
        super().__init__(message)
        self.code: WireCode = code


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
            raise WireError(
                f"{name}: is not valid UTF-8 ({value[:40]!r})", "invalid_encoding"
            ) from None
    return value


def _check_size(fields: Mapping[bytes | str, bytes | str]) -> None:
    size = sum(len(k) + len(v) for k, v in fields.items())
    if size > MAX_ENTRY_BYTES:
        raise WireError(
            f"entry: {size} bytes exceeds the limit of {MAX_ENTRY_BYTES} bytes", "too_large"
        )


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
    if err["type"] == "missing":
        return f"{loc}: missing (a required field)"
    value = err.get("input")
    # The value as JSON would show it (a whole object is only named: never repr'd in full).
    if isinstance(value, dict | list):
        shown = f"a JSON {'object' if isinstance(value, dict) else 'array'}"
    else:
        shown = _cut(json.dumps(value, default=str, ensure_ascii=False), 80)
    return f"{loc}: {shown} {err['msg']}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[: limit - 3]}... ({len(text)} characters)"


def parse_message(raw: str | bytes | Mapping[str, object], expected: type[M]) -> M:
    """Validate the JSON `data` of an entry as `expected`, with a one-line error."""
    try:
        if isinstance(raw, Mapping):
            return expected.model_validate(raw)
        return expected.model_validate_json(raw)
    except ValidationError as exc:
        raise WireError(first_error(exc)) from None


def _shown(value: object, limit: int = 60) -> str:
    """A value quoted for an error message, cut to `limit` characters."""
    return _cut(repr(value), limit)


def json_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether `text` nests objects and arrays deeper than `limit` (strings skipped).

    Only texts with more than `limit` brackets are scanned, so a message costs two counts.
    """
    if text.count("{") + text.count("[") <= limit:
        return False
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
            if depth > limit:
                return True
        elif char in "}]":
            depth -= 1
    return False


def _json_object(text: str, name: str) -> dict[str, Any]:
    """`text` parsed as one JSON object, refused (naming `name`) when it is not one."""
    if json_depth_exceeds(text):
        raise WireError(f"{name}: JSON nested deeper than {MAX_JSON_DEPTH} levels", "too_deep")
    try:
        payload = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        where = f" ({exc.msg} at {exc.pos})" if isinstance(exc, json.JSONDecodeError) else ""
        raise WireError(f"{name}: is not valid JSON{where}", "invalid_json") from None
    if not isinstance(payload, dict):
        raise WireError(f"{name}: {_shown(str(payload)[:40])} is not a JSON object", "invalid_json")
    return payload


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
        raise WireError(f"data: missing (fields present: {sorted(text)[:10]})", "invalid_json")
    payload = _json_object(data, "data")
    # FastStream's own envelope nests the body (an object, or JSON text beside its headers).
    inner = payload.get("data") if "type" not in payload else None
    if isinstance(inner, str):
        inner = _json_object(inner, "data.data")
    if isinstance(inner, dict):
        payload = inner
    kind = payload.get("type", text.get("type"))
    model = MESSAGE_TYPES.get(str(kind))
    if model is None:
        raise WireError(f"type: {_shown(kind)} is not a known message type", "unknown_type")
    return parse_message(payload, model)
