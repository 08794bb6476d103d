"""contracts/asyncapi.yaml: the AsyncAPI 3.0 document of every stream and message.

`python -m services.asyncapi` writes it; `--check` exits 1 when the committed file differs.

FastStream documents the services as they are wired: the fee worker's and the projector's
subscribers (stream, consumer group), and publishers declared here for what they write (the
recorder's log events, accruals, dead letters). Their handlers take raw batches, so FastStream
alone would describe the bodies as anything; the document is therefore finished here: one
channel per stream, one message per contract type whose payload is the pydantic model's JSON
Schema (decimals as strings with patterns, as in contracts/schemas) and whose headers are the
plain entry fields, with the models' examples. Built for the default prefix and the Redis that
`docker compose up` publishes on this machine, as server variables, so the file is the same on
every machine; the prefix is the channel parameter `prefix`.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from faststream.redis import RedisBroker
from faststream.specification import AsyncAPI
from pydantic.json_schema import models_json_schema

from contracts.generate import strict_schema
from contracts.message_examples import MESSAGE_EXAMPLES
from contracts.messages import (
    AGREEMENT_EVENTS,
    ALL_MESSAGES,
    CloseMonthRequested,
    DeadLetter,
    FeeAccrued,
    FeeAdjusted,
    FeeTrueUp,
    InvoiceBreak,
    InvoiceMatched,
    InvoiceReceived,
    Message,
    MonthCloseRefused,
    NetAssetsReported,
    PeriodClosed,
    ReportHeld,
    ReportIgnored,
)
from services.adapters.keys import Keys
from services.settings import Settings

ASYNCAPI_PATH = Path(__file__).resolve().parents[1] / "contracts" / "asyncapi.yaml"
# Where `docker compose up` publishes Redis (deploy: 127.0.0.1:${FEES_REDIS_HOST_PORT:-6379}):
# the defaults of the server's variables.
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"
PREFIX = "fees"
# Its hash tag, the `{prefix}` parameter's default, as every key starts with it.
TAG = Keys(PREFIX).tag
SCHEMAS = "#/components/schemas/"

WIRE_FORMAT = """\
Every entry is a Redis stream entry with plain fields, readable by redis-cli or any client:

| field | value |
| --- | --- |
| `type` | the message type, e.g. `NetAssetsReported` |
| `event_id` | unique id of the message (the same as `data.event_id`) |
| `schema_version` | integer as text, e.g. `1` |
| `data` | the message as one JSON object: the payload below |

In AsyncAPI terms the headers are the first three fields and the payload is the JSON in
`data`; the JSON repeats `type` and `event_id`, so a consumer may read `data` alone. Money,
rates and net assets travel as decimal strings of ASCII digits (`"750000000.00"`, `"0.88"`),
never as JSON numbers, exponents or with `+`, `_` or spaces; dates are `YYYY-MM-DD`, times
RFC 3339 with a zone; counts (`revision`, `accrual_days`, `amendment_number`) are JSON
integers, `revision` at most 2^63-1. The payload schemas say exactly this (and every one
compiles in ajv's strict mode). Beyond them, the services refuse duplicate keys, NaN and a
count written with a fraction (`1.0`). Writers may also publish with FastStream (its `__data__`
envelope); the services read both."""

# Each stream by name (its key is the `Keys` attribute of the name): its messages, and what it is.
STREAMS: dict[str, tuple[tuple[type[Message], ...], str]] = {
    "agreements": (
        AGREEMENT_EVENTS,
        "The agreements log: every agreement registered, amendment recorded and retraction, "
        "in one global order. Append-only and never trimmed: it is the audit record. Only the "
        "recorder appends (a Lua script checks the agreement's expected version and the "
        "idempotency key); the projector consumes it in its consumer group, the fee worker and "
        "the audit commands read it with XRANGE.",
    ),
    "net-assets": (
        (NetAssetsReported,),
        "Input from fund accounting: one NetAssetsReported per portfolio and day. Consumed by "
        "the fee worker's consumer group in batches; an entry that cannot be priced is "
        "dead-lettered with its reason, a report with no schedule yet waits until one is "
        "recorded, and a higher `revision` for an accrued date adjusts that day's fee.",
    ),
    "accruals": (
        (FeeAccrued, FeeAdjusted, FeeTrueUp, PeriodClosed, MonthCloseRefused),
        "Output: FeeAccrued once per portfolio and day (exactly once; `accrual_id` is "
        "`PORTFOLIO:DATE`) and FeeAdjusted when a later amendment, a retraction or a revised "
        "report changes an accrued amount. Event ids are derived from the accrual, so they are "
        "stable across redeliveries.",
    ),
    "report-outcomes": (
        (ReportHeld, ReportIgnored),
        "Output: what became of a report that was not priced (yet): ReportHeld when it waits "
        "unpriced (no schedule in force on its date; it is priced as FeeAccrued once one is "
        "recorded), ReportIgnored when it changes nothing (a duplicate, an older revision, or "
        "a different report of the same revision). Every net-assets entry leaves exactly one "
        "trace: FeeAccrued or FeeAdjusted on the accruals stream, an event here, or a dead "
        "letter. Event ids derive from the input entry id.",
    ),
    "dead-letters": (
        (DeadLetter,),
        "Entries that could not be processed: the original fields, the stream and entry id "
        "they came from, and a reason naming the field and the value.",
    ),
    "commands": (
        (CloseMonthRequested,),
        "Input from accounting systems: CloseMonthRequested, a month's close asked over the "
        "bus (as `feeschedule close` does it). Consumed by the fee worker's command group; the "
        "answer is FeeTrueUp and PeriodClosed, or MonthCloseRefused with what was missing, on "
        "the accruals stream.",
    ),
    "invoices": (
        (InvoiceReceived,),
        "Input from the adviser's side: InvoiceReceived, what it invoices a portfolio for a "
        "month. Consumed by the fee worker's invoice group; matched once the month is closed "
        "(kept until then), an entry that is not an invoice dead-lettered.",
    ),
    "invoice-outcomes": (
        (InvoiceMatched, InvoiceBreak),
        "Output: InvoiceMatched (within tolerance of the closed month's closing fee) or "
        "InvoiceBreak (the difference, the rate the invoice implies, and what explains it).",
    ),
}

MESSAGE_SUMMARIES: dict[str, str] = {
    "AgreementRegistered": "A management agreement, its day count and rounding policy.",
    "AmendmentRecorded": "A numbered amendment and its changes to the portfolios' schedules.",
    "AmendmentRetracted": "An amendment recorded in error, withdrawn (never edited).",
    "NetAssetsReported": "A portfolio's net assets on a date.",
    "FeeAccrued": "One day's fee of a portfolio, with the schedule and tiers that priced it.",
    "FeeAdjusted": "A correction of an accrued fee: previous amount, new amount, and why.",
    "FeeTrueUp": "A month's fee by the agreement's method, and its difference from the accruals.",
    "PeriodClosed": "A portfolio's month, closed (what a forced close went without).",
    "InvoiceReceived": "The adviser's invoice of a portfolio's month.",
    "CloseMonthRequested": "A month's close, asked by an accounting system.",
    "MonthCloseRefused": "A requested close that left a portfolio's month open, and why.",
    "InvoiceMatched": "An invoice within tolerance of its closed month's fee.",
    "InvoiceBreak": "An invoice that does not tie to its month's fee, and what explains it.",
    "ReportHeld": "A valid report that waits unpriced (no schedule yet), and why.",
    "ReportIgnored": "A valid report that changed nothing (a duplicate, an older revision).",
    "DeadLetter": "An entry that could not be processed, and why.",
}


def _name(model: type[Message]) -> str:
    return str(model.model_fields["type"].default)


def _settings() -> Settings:
    # Never a cluster, whatever FEES_REDIS_CLUSTER says: the document is the same on both, and
    # redis-py's sync cluster client connects as soon as it is made (building the apps would
    # then need a running cluster).
    return Settings(
        redis_url=LOCAL_REDIS_URL, prefix=PREFIX, consumer="CONSUMER", redis_cluster=False
    )


def faststream_document(settings: Settings) -> dict[str, Any]:
    """What FastStream says of the apps, with publishers declared for the services' output."""
    from services.fee_worker.service import build_app as fee_worker_app
    from services.projector.service import build_app as projector_app

    keys = settings.keys
    fee_worker = fee_worker_app(settings).broker
    projector = projector_app(settings).broker
    assert isinstance(fee_worker, RedisBroker) and isinstance(projector, RedisBroker)
    recorder = RedisBroker(settings.redis_url or LOCAL_REDIS_URL)  # it appends with a Lua script
    recorder.publisher(stream=keys.agreements, title="recorder", schema=Message)
    fee_worker.publisher(stream=keys.accruals, title="accruals", schema=Message)
    fee_worker.publisher(stream=keys.report_outcomes, title="report-outcomes", schema=Message)
    fee_worker.publisher(stream=keys.dead_letters, title="dead-letters", schema=DeadLetter)
    fee_worker.publisher(stream=keys.invoice_outcomes, title="invoice-outcomes", schema=Message)
    brokers = (recorder, projector, fee_worker)
    spec = AsyncAPI(*brokers, title="feeschedule", version=_version(), schema_version="3.0.0")
    document: dict[str, Any] = spec.to_specification().to_jsonable()
    return document


def _version() -> str:
    try:
        return metadata.version("feeschedule")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def contract_schemas() -> dict[str, Any]:
    """Every message model's JSON Schema, nested models as components (one namespace)."""
    _, top = models_json_schema(
        [(model, "serialization") for model in ALL_MESSAGES],
        by_alias=True,
        ref_template=SCHEMAS + "{model}",
    )
    schemas: dict[str, Any] = top["$defs"]
    # Exactly the published schemas (contracts/schemas), strict-validator clean the same way.
    return {name: strict_schema(schemas[name]) for name in sorted(schemas)}


def _headers(model: type[Message]) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "The plain stream entry fields beside `data`.",
        "required": ["type", "event_id", "schema_version"],
        "properties": {
            "type": {"type": "string", "const": _name(model)},
            "event_id": {"type": "string", "minLength": 1, "maxLength": 200},
            "schema_version": {"type": "string", "const": str(model.SCHEMA_VERSION)},
        },
    }


def _message(model: type[Message]) -> dict[str, Any]:
    name = _name(model)
    return {
        "name": name,
        "title": name,
        "summary": MESSAGE_SUMMARIES[name],
        "description": (model.__doc__ or MESSAGE_SUMMARIES[name]).strip()
        + f"\n\nSchema version {model.SCHEMA_VERSION}; the JSON in the entry's `data` field.",
        "contentType": "application/json",
        "headers": _headers(model),
        "payload": {"$ref": SCHEMAS + name},
        "examples": [
            {
                "name": f"{name}{i + 1}" if len(examples) > 1 else name,
                "summary": MESSAGE_SUMMARIES[name],
                "headers": {
                    "type": name,
                    "event_id": example["event_id"],
                    "schema_version": str(model.SCHEMA_VERSION),
                },
                "payload": example,
            }
            for examples in [MESSAGE_EXAMPLES[name]]
            for i, example in enumerate(examples)
        ],
    }


def _server(settings: Settings) -> dict[str, Any]:
    """The Redis server, its host, port and database as variables (defaults: LOCAL_REDIS_URL)."""
    url = urlsplit(settings.redis_url or LOCAL_REDIS_URL)
    return {
        "host": "{host}:{port}",
        "pathname": "/{db}",
        "protocol": url.scheme,
        "description": (
            "Your Redis 7: FEES_REDIS_URL (or REDIS_URL), `redis://HOST:PORT/DB`, or `rediss://`"
            " for TLS; each service connects as its own ACL user (FEES_REDIS_USERNAME). The"
            " defaults are the Redis that `docker compose up` publishes on the local machine."
        ),
        "variables": {
            "host": {"default": url.hostname or "127.0.0.1", "description": "Redis host"},
            "port": {"default": str(url.port or 6379), "description": "Redis port"},
            "db": {"default": url.path.lstrip("/") or "0", "description": "database number"},
        },
    }


def _channel(stream: str, key: str) -> dict[str, Any]:
    """A stream, its address written with the `{prefix}` parameter (the key is `key`)."""
    assert key.startswith(TAG + ":"), key
    messages, description = STREAMS[stream]
    return {
        "address": "{prefix}" + key[len(TAG) :],
        "title": key,
        "description": description
        + f"\n\nThe key is `{key}` with the default prefix: `{TAG}` is FEES_PREFIX in braces, a"
        " Redis Cluster hash tag, and the braces are part of the key.",
        "parameters": {"prefix": {"$ref": "#/components/parameters/prefix"}},
        "servers": [{"$ref": "#/servers/redis"}],
        "messages": {_name(m): {"$ref": f"#/components/messages/{_name(m)}"} for m in messages},
    }


PREFIX_PARAMETER = {
    "description": (
        "The deployment's key prefix with its braces: `{` + FEES_PREFIX + `}`, `{fees}` by"
        " default. The braces are part of every key (a Redis Cluster hash tag); quote them in a"
        " shell. With partitioned intake (FEES_PARTITIONS=P > 1) the fee worker's streams of"
        " partition k (net-assets, invoices, commands, accruals, report-outcomes, dead-letters,"
        " invoice-outcomes) take `{fees:pk}` instead, k = CRC-32 of the portfolio id mod P"
        " (contracts/README.md); the agreements log keeps `{fees}`."
    ),
    "default": TAG,
    "examples": [TAG, "{fees-staging}"],
}


def build_document() -> dict[str, Any]:
    """The finished document: FastStream's servers and channels, the contracts' messages."""
    settings = _settings()
    keys = settings.keys
    generated = faststream_document(settings)
    addresses = {stream: getattr(keys, stream.replace("-", "_")) for stream in STREAMS}
    groups = _consumer_groups(generated, addresses)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "feeschedule",
            "version": generated["info"]["version"],
            "description": (
                "Management-fee schedules on Redis Streams: amendments in (the agreements "
                "log), daily net assets in, exact fee accruals and adjustments out.\n\n"
                + WIRE_FORMAT
            ),
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": {"redis": _server(settings)},
        "channels": {stream: _channel(stream, address) for stream, address in addresses.items()},
        "operations": {operation: _operation(operation, groups) for operation in OPERATIONS},
        "components": {
            "messages": {_name(m): _message(m) for m in ALL_MESSAGES},
            "schemas": contract_schemas(),
            "parameters": {"prefix": PREFIX_PARAMETER},
        },
    }


def _consumer_groups(generated: dict[str, Any], addresses: dict[str, str]) -> dict[str, str]:
    """Stream -> group of each xreadgroup subscriber; raises when the apps drift from that."""
    groups: dict[str, str] = {}
    for channel in generated["channels"].values():
        binding = channel.get("bindings", {}).get("redis", {})
        if binding.get("method") == "xreadgroup":
            groups[channel["address"]] = binding["groupName"]
    found = {channel["address"] for channel in generated["channels"].values()}
    missing = set(addresses.values()) - found
    consumed = {addresses[OPERATIONS[operation][0]] for operation in RECEIVERS}
    if missing or set(groups) != consumed:
        raise RuntimeError(f"the FastStream apps no longer describe {sorted(missing or groups)}")
    return {stream: groups[address] for stream, address in addresses.items() if address in groups}


# Who sends to and who receives from each stream: operation -> (stream, title, description;
# "{group}" is the consumer group of a receiver, one of RECEIVERS).
OPERATIONS: dict[str, tuple[str, str, str]] = {
    "recordAgreementEvent": (
        "agreements",
        "recorder appends",
        "`feeschedule register-agreement | amend | retract | ingest`: XADD via a Lua script that"
        " checks the agreement's expected version and the idempotency key.",
    ),
    "projectAgreementEvents": (
        "agreements",
        "projector",
        "Consumer group `{group}`: keeps the read model (current schedules, timelines, names) at"
        " the log's pace.",
    ),
    "priceNetAssets": (
        "net-assets",
        "fee worker",
        "Consumer group `{group}`, in batches; every entry ends acknowledged: accrued, waiting"
        " for a schedule, or dead-lettered.",
    ),
    "publishFees": (
        "accruals",
        "fee worker",
        "Written with the ledger entry and the acknowledgement in one atomic step.",
    ),
    "publishReportOutcomes": (
        "report-outcomes",
        "fee worker",
        "A report that waits unpriced or changes nothing: written with its acknowledgement in"
        " the same atomic step.",
    ),
    "publishDeadLetters": (
        "dead-letters",
        "fee worker and projector",
        "An entry that cannot be processed is written here and acknowledged.",
    ),
    "closeMonths": (
        "commands",
        "fee worker",
        "Consumer group `{group}`: each CloseMonthRequested carried out, and acknowledged with"
        " its refusals, if any.",
    ),
    "matchInvoices": (
        "invoices",
        "fee worker",
        "Consumer group `{group}`: each invoice matched against its closed month, or kept until"
        " `feeschedule close` closes it.",
    ),
    "publishInvoiceOutcomes": (
        "invoice-outcomes",
        "fee worker and the close",
        "Written with the invoice's acknowledgement, or with the close that matches it.",
    ),
}
# The operations that read their stream in a consumer group (the others XADD to it).
RECEIVERS = ("projectAgreementEvents", "priceNetAssets", "closeMonths", "matchInvoices")


def _operation(operation: str, groups: dict[str, str]) -> dict[str, Any]:
    """One of `OPERATIONS`: sending is an XADD; receiving (`RECEIVERS`), a read in its stream's
    consumer group (`groups`: stream -> its group)."""
    stream, title, description = OPERATIONS[operation]
    group = groups[stream] if operation in RECEIVERS else None
    binding = {"method": "xreadgroup", "groupName": group} if group else {"method": "xadd"}
    return {
        "action": "receive" if group else "send",
        "title": title,
        "description": description.format(group=group),
        "channel": {"$ref": f"#/channels/{stream}"},
        "messages": [
            {"$ref": f"#/channels/{stream}/messages/{_name(m)}"} for m in STREAMS[stream][0]
        ],
        "bindings": {"redis": {**binding, "bindingVersion": "0.1.0"}},
    }


class _Dumper(yaml.SafeDumper):
    """Multi-line text as literal blocks, so the descriptions read as written."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def render() -> str:
    return yaml.dump(
        build_document(),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=False,
    )


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not ASYNCAPI_PATH.exists() or ASYNCAPI_PATH.read_text() != text:
            print("stale contracts/asyncapi.yaml (run python -m services.asyncapi)")
            return 1
        return 0
    ASYNCAPI_PATH.write_text(text)
    print(f"wrote {ASYNCAPI_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
