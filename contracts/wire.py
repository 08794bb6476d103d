"""The plain wire format of every stream entry the service writes.

Fields: `type` (message type name), `event_id`, `schema_version`, and `data` (the message as a
JSON object, decimals as strings). Any Redis client can read and filter them without FastStream.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import ValidationError

from contracts.messages import MESSAGE_TYPES, Message, WireCode

M = TypeVar("M", bound=Message)

MAX_ENTRY_BYTES = 256 * 1024

# What a FastStream publisher writes: one field holding its binary format (v1) or JSON envelope.
FASTSTREAM_FIELD = "__data__"
_FASTSTREAM_MAGIC = b"\x89BIN\r\n\x1a\n"
_FASTSTREAM_KEY = FASTSTREAM_FIELD.encode()


# Deeper JSON than any message has is refused before parsing (json.loads would recurse).
MAX_JSON_DEPTH = 32


class WireError(ValueError):
    """An entry that is not a valid message; the text names the field and the value.

    `code` says which kind of problem it is, for machines (DeadLetter.code).
    """

    def __init__(self, message: str, code: WireCode = "invalid_field") -> None:
        super().__init__(message)
        self.code: WireCode = code


# JSON numbers longer than this are not read as integers at all: a revision of 2**63-1 has 19
# digits, and int() of thousands of digits is slow, then refused by Python's conversion limit.
MAX_INT_DIGITS = 20


class LongNumber:
    """A JSON integer of more digits than any contract field holds, kept only as its length:
    validation then fails at its field, and `first_error` says how long it was."""

    __slots__ = ("digits",)

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"<a JSON number of {self.digits} digits>"


class _StrictJSONError(ValueError):
    """What the strict parsing hooks refuse: the text names the key or the constant."""


def _parse_int(text: str) -> int | LongNumber:
    return int(text) if len(text) <= MAX_INT_DIGITS else LongNumber(len(text.lstrip("-")))


def _parse_constant(name: str) -> Any:
    raise _StrictJSONError(f"{name} is not a JSON number (JSON has no NaN or Infinity)")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):  # json.loads alone would keep the last silently
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _StrictJSONError(f"duplicate key {_cut(json.dumps(key), 60)}")
            seen.add(key)
    return obj


# Built once: json.loads with hooks would build a decoder per call (a report then cost twice
# what plain json.loads does; this way about 0.4 us more).
_STRICT_DECODER = json.JSONDecoder(
    parse_int=_parse_int, parse_constant=_parse_constant, object_pairs_hook=_unique_keys
)


def strict_loads(text: str | bytes) -> Any:
    """json.loads as the contract reads JSON: duplicate keys, NaN and Infinity are refused
    (raising ValueError), over-long integers come back as `LongNumber`; bytes must be UTF-8."""
    return _STRICT_DECODER.decode(text.decode("utf-8") if isinstance(text, bytes) else text)


# A stream entry's fields as a client returns them (bytes) or as we build them (text).
Fields = Mapping[bytes, bytes] | Mapping[str, str] | Mapping[bytes | str, bytes | str]


def encode(message: Message) -> dict[str, str]:
    return {
        "type": message.type,
        "event_id": message.event_id,
        "schema_version": str(message.schema_version),
        # The model's own serializer, without model_dump_json's handling of its arguments.
        "data": message.__pydantic_serializer__.to_json(message, by_alias=True).decode(),
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


def _check_size(fields: Fields) -> None:
    size = sum(map(len, fields)) + sum(map(len, fields.values()))
    if size > MAX_ENTRY_BYTES:
        raise WireError(
            f"entry: {size} bytes exceeds the limit of {MAX_ENTRY_BYTES} bytes", "too_large"
        )


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
    if isinstance(value, LongNumber) or (isinstance(value, int) and value.bit_length() > 64):
        return f"{loc}: {shown_value(value)}, more than the contract allows"
    return f"{loc}: {shown_value(value)} {err['msg']}"


def shown_value(value: object) -> str:
    """A value quoted for an error message as JSON would show it, cut to 80 characters; a
    whole object or array is only named, never shown in full."""
    if isinstance(value, LongNumber):
        return f"a JSON number of {value.digits} digits"
    if isinstance(value, int) and value.bit_length() > 64:
        # int -> str of thousands of digits is slow, and refused past Python's limit.
        return f"a JSON number of {_count_digits(value)} digits"
    if isinstance(value, dict | list):
        return f"a JSON {'object' if isinstance(value, dict) else 'array'}"
    return _cut(json.dumps(value, default=str, ensure_ascii=False), 80)


def _count_digits(value: int) -> int:
    """Decimal digits of `value`, without converting it to text: from its bit length (which
    says the count to within one), then settled by one comparison."""
    value = abs(value)
    digits = max(1, int((value.bit_length() - 1) * 0.30102999566398))
    while value >= 10**digits:
        digits += 1
    return digits


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[: limit - 3]}... ({len(text)} characters)"


def parse_message(raw: str | bytes | Mapping[str, object], expected: type[M]) -> M:
    """Validate the JSON `data` of an entry as `expected`, with a one-line error.

    Text is parsed by `strict_loads` (pydantic's own JSON parser keeps the last of duplicate
    keys). Fields are read by their wire names only (`from`, never the Python name `lower`).
    """
    if type(raw) is not dict and not isinstance(raw, Mapping):
        raw = _json_object(_text(raw, "data"), "data")
    try:
        return expected.model_validate(raw, by_name=False)
    except ValidationError as exc:
        raise WireError(first_error(exc)) from None


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
        payload = strict_loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        where = f" ({exc.msg} at {exc.pos})" if isinstance(exc, json.JSONDecodeError) else ""
        raise WireError(f"{name}: is not valid JSON{where}", "invalid_json") from None
    except _StrictJSONError as exc:
        raise WireError(f"{name}: {exc}", "invalid_json") from None
    if not isinstance(payload, dict):
        shown = _cut(repr(str(payload)[:40]), 60)
        raise WireError(f"{name}: {shown} is not a JSON object", "invalid_json")
    return payload


def decode(fields: Fields) -> Message:
    """The message in a stream entry (plain wire format, or FastStream's JSON envelope)."""
    _check_size(fields)
    loose: Mapping[Any, bytes | str] = fields
    published = loose.get(FASTSTREAM_FIELD, loose.get(_FASTSTREAM_KEY))
    if published is not None:
        text = {"data": _faststream_body(published)}
    else:  # the fields as text, or a refusal of undecodable bytes
        text = {}
        for key, value in fields.items():
            name = _text(key, "field name")
            text[name] = _text(value, name)
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
        raise WireError(f"type: {_cut(repr(kind), 60)} is not a known message type", "unknown_type")
    return parse_message(payload, model)


def decode_as(fields: Fields, model: type[M], stream: str) -> M:
    """The message in an entry of a stream that takes only `model`; WireError otherwise."""
    message = decode(fields)
    if not isinstance(message, model):
        raise not_accepted(message.type, model, stream)
    return message


def not_accepted(shown: str, model: type[Message], stream: str) -> WireError:
    """The refusal of a message of type `shown` on a stream that takes only `model`."""
    return WireError(
        f"type: {shown!r} is not accepted on the {stream} stream"
        f" (expected {model.model_fields['type'].default!r})",
        "unknown_type",
    )
