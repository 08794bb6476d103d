"""The worker benchmark's baseline is independent of the service, and does the same job: it
imports nothing of services/ or contracts/, and its FeeAccrued and ledger entry carry every
field, with the same values, that the worker's do for the same report."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from benchmarks import plain_loop
from benchmarks.bench_worker import TIERS, reports
from contracts.messages import AgreementRegistered, AmendmentRecorded
from services.adapters.consumer import Delivery
from services.app.operations import Accrue
from services.app.pricing import Pricer
from services.domain.book import ScheduleBook
from services.mapping import apply_to_book


def test_the_plain_loop_imports_nothing_of_the_service() -> None:
    tree = ast.parse(Path(plain_loop.__file__).read_text())
    imported = {
        name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        )
    }
    assert imported, "no imports found"
    assert not {m for m in imported if m.split(".")[0] in {"services", "contracts", "benchmarks"}}


def test_the_plain_loop_writes_what_the_worker_writes() -> None:
    book = ScheduleBook()
    amendment = AmendmentRecorded.model_validate(
        {
            "event_id": "am-1",
            "agreement_id": "BENCH",
            "amendment_number": 1,
            "effective_date": "1999-01-01",
            "changes": [
                {"action": "add", "portfolio_id": "P000", "portfolio_name": "P0", "tiers": TIERS}
            ],
        }
    )
    apply_to_book(book, AgreementRegistered(agreement_id="BENCH"), "1-1")
    apply_to_book(book, amendment, "1-2")
    pricer = Pricer(book, "net-assets")
    ref = {
        "agreement_id": "BENCH",
        "amendment_number": 1,
        "effective_date": "1999-01-01",
        "event_id": "am-1",
        "position": "1-2",
        "waiver": False,
    }
    schedule = plain_loop.Schedule(TIERS, ref)
    entries = reports(300, 1)
    ops = pricer.plan_batch(
        [
            Delivery(f"1-{i}", {k.encode(): v.encode() for k, v in e.items()})
            for i, e in enumerate(entries)
        ]
    )
    for entry, op in zip(entries, ops, strict=True):
        assert isinstance(op, Accrue)
        event_id, data, ledger = plain_loop.price(json.loads(entry["data"]), schedule)
        theirs, ours = json.loads(data), json.loads(op.event["data"])
        del theirs["occurred_at"], ours["occurred_at"]
        assert theirs == ours
        assert list(theirs) == list(ours)  # every field, in the same order
        assert event_id == op.event["event_id"]
        assert json.loads(ledger) == json.loads(op.ledger)
