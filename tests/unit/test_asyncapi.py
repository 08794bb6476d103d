"""contracts/asyncapi.yaml: current, complete, and the same schemas as contracts/schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from contracts.messages import AGREEMENT_EVENTS, ALL_MESSAGES
from services.ops.asyncapi import ASYNCAPI_PATH, main, render

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "contracts" / "schemas"


def _document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(ASYNCAPI_PATH.read_text())
    return document


def test_the_committed_document_is_current() -> None:
    assert ASYNCAPI_PATH.read_text() == render(), (
        "contracts/asyncapi.yaml is stale: run .venv/bin/python -m services.ops.asyncapi"
    )
    assert main(["--check"]) == 0


def test_generation_is_deterministic() -> None:
    assert render() == render()


def test_every_stream_and_every_message_is_described() -> None:
    document = _document()
    assert document["asyncapi"] == "3.0.0"
    channels = document["channels"]
    assert {c["address"] for c in channels.values()} == {
        "{fees}:agreements",
        "{fees}:net-assets",
        "{fees}:accruals",
        "{fees}:report-outcomes",
        "{fees}:dead-letters",
    }
    messages = {name for c in channels.values() for name in c["messages"]}
    assert messages == {m.__name__ for m in ALL_MESSAGES}
    assert set(channels["agreements"]["messages"]) == {m.__name__ for m in AGREEMENT_EVENTS}
    assert set(channels["accruals"]["messages"]) == {"FeeAccrued", "FeeAdjusted"}
    assert set(channels["report-outcomes"]["messages"]) == {"ReportHeld", "ReportIgnored"}
    groups = {
        op["bindings"]["redis"].get("groupName")
        for op in document["operations"].values()
        if op["action"] == "receive"
    }
    assert groups == {"projector", "fee-worker"}
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
        if isinstance(out.get("discriminator"), dict):
            out["discriminator"] = out["discriminator"]["propertyName"]
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
        assert accrued[field] == {"pattern": r"^-?\d+(\.\d+)?$", "type": "string"} | {
            k: v for k, v in accrued[field].items() if k == "title"
        }, field
    assert components["NetAssetsReported"]["properties"]["net_assets"]["pattern"] == (
        r"^\d+(\.\d+)?$"
    )
