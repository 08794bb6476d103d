"""contracts/asyncapi.yaml: current, complete, and the same schemas as contracts/schemas."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from contracts.message_examples import MESSAGE_EXAMPLES
from contracts.messages import AGREEMENT_EVENTS, ALL_MESSAGES
from services.asyncapi import ASYNCAPI_PATH, main, render

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "contracts" / "schemas"


def _document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(ASYNCAPI_PATH.read_text())
    return document


def test_the_committed_document_is_current() -> None:
    assert ASYNCAPI_PATH.read_text() == render(), (
        "contracts/asyncapi.yaml is stale: run .venv/bin/python -m services.asyncapi"
    )
    assert main(["--check"]) == 0


def test_generation_is_deterministic() -> None:
    assert render() == render()


def test_every_stream_and_every_message_is_described() -> None:
    document = _document()
    assert document["asyncapi"] == "3.0.0"
    channels = document["channels"]
    # Addresses name the prefix as the parameter `prefix`; with its default they are the keys.
    prefix = document["components"]["parameters"]["prefix"]["default"]
    assert prefix == "{fees}"
    assert {c["address"].replace("{prefix}", prefix) for c in channels.values()} == {
        "{fees}:agreements",
        "{fees}:net-assets",
        "{fees}:accruals",
        "{fees}:report-outcomes",
        "{fees}:dead-letters",
        "{fees}:invoices",
        "{fees}:invoice-outcomes",
        "{fees}:commands",
    }
    messages = {name for c in channels.values() for name in c["messages"]}
    assert messages == {m.__name__ for m in ALL_MESSAGES}
    assert set(channels["agreements"]["messages"]) == {m.__name__ for m in AGREEMENT_EVENTS}
    assert set(channels["accruals"]["messages"]) == {
        "FeeAccrued",
        "FeeAdjusted",
        "FeeTrueUp",
        "PeriodClosed",
        "MonthCloseRefused",
    }
    assert set(channels["report-outcomes"]["messages"]) == {"ReportHeld", "ReportIgnored"}
    assert set(channels["invoices"]["messages"]) == {"InvoiceReceived"}
    assert set(channels["invoice-outcomes"]["messages"]) == {"InvoiceMatched", "InvoiceBreak"}
    groups = {
        op["bindings"]["redis"].get("groupName")
        for op in document["operations"].values()
        if op["action"] == "receive"
    }
    assert groups == {"projector", "fee-worker", "fee-worker-invoices", "fee-worker-commands"}
    # The plain wire format is explained where an integrator reads first.
    for field in ("`type`", "`event_id`", "`schema_version`", "`data`"):
        assert field in document["info"]["description"]
    for name, message in document["components"]["messages"].items():
        assert message["payload"] == {"$ref": f"#/components/schemas/{name}"}
        wire = message["headers"]["properties"]
        assert wire["type"]["const"] == name
        assert set(message["headers"]["required"]) == {"type", "event_id", "schema_version"}


def _as_component(node: Any) -> Any:
    """A contracts/schemas node as it must appear in the AsyncAPI components."""
    if isinstance(node, dict):
        out = {k: _as_component(v) for k, v in node.items() if k not in ("$id", "$schema")}
        out.pop("$defs", None)
        if isinstance(out.get("$ref"), str):
            out["$ref"] = out["$ref"].replace("#/$defs/", "#/components/schemas/")
        return out
    if isinstance(node, list):
        return [_as_component(v) for v in node]
    return node


def test_payloads_are_the_published_json_schemas() -> None:
    """Same models, same constraints: decimals are strings with the same patterns."""
    components = _document()["components"]["schemas"]
    for model in ALL_MESSAGES:
        published = json.loads((SCHEMA_DIR / f"{model.__name__}.json").read_text())
        assert components[model.__name__] == _as_component(published), model.__name__
        for name, nested in published.get("$defs", {}).items():
            assert components[name] == _as_component(nested), name
    accrued = components["FeeAccrued"]["properties"]
    for field in ("amount", "amount_exact", "net_assets", "effective_rate_pct", "annual_fee"):
        assert accrued[field]["type"] == "string", field
        assert accrued[field]["pattern"] == r"^-?[0-9]{1,60}(\.[0-9]{1,80})?$(?!\n)", field
    assert components["NetAssetsReported"]["properties"]["net_assets"]["pattern"] == (
        r"^[0-9]{1,30}(\.[0-9]{1,20})?$(?!\n)"
    )
    # No OpenAPI `discriminator` (ajv's strict mode refuses it): the oneOf decides alone.
    assert "discriminator" not in json.dumps(components)


def test_the_server_and_the_prefix_are_declared() -> None:
    """No placeholder host; every {name} in an address is a declared parameter."""
    document = _document()
    (server,) = document["servers"].values()
    assert server["host"] == "{host}:{port}" and server["pathname"] == "/{db}"
    assert set(server["variables"]) == {"host", "port", "db"}
    assert server["variables"]["host"]["default"] == "127.0.0.1"
    assert server["variables"]["port"]["default"] == "6379"
    assert "example.com" not in ASYNCAPI_PATH.read_text()
    declared = document["components"]["parameters"]
    for name, channel in document["channels"].items():
        used = set(re.findall(r"{([^}]*)}", channel["address"]))
        assert used == {"prefix"}, name
        assert channel["parameters"] == {"prefix": {"$ref": "#/components/parameters/prefix"}}
    assert set(declared) == {"prefix"}


def test_every_message_shows_the_models_examples_and_they_validate() -> None:
    """asyncapi.yaml's examples are the models' own, valid against its payload and headers."""
    document = _document()
    registry: Registry[Any] = Registry().with_resource(
        "urn:asyncapi", Resource(contents=document, specification=DRAFT202012)
    )
    for model in ALL_MESSAGES:
        name = model.__name__
        message = document["components"]["messages"][name]
        assert [e["payload"] for e in message["examples"]] == MESSAGE_EXAMPLES[name], name
        payload = Draft202012Validator(
            {"$ref": f"urn:asyncapi{message['payload']['$ref']}"},
            registry=registry,
            format_checker=FormatChecker(),
        )
        headers = Draft202012Validator(message["headers"])
        for example in message["examples"]:
            payload.validate(example["payload"])
            headers.validate(example["headers"])
            assert example["headers"]["event_id"] == example["payload"]["event_id"]
        # The check can fail: a count written as a string is not a valid payload.
        bad = {**message["examples"][0]["payload"], "schema_version": "1"}
        assert not payload.is_valid(bad)
