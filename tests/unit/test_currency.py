"""An agreement's currency: set at registration (default USD), kept by every fold and the read
model, and a report in another currency cannot be priced on its breakpoints."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime

import pydantic_core
import pytest

from contracts.messages import AgreementRegistered, AmendmentRecorded
from services.adapters.readmodel.codec import agreement_doc, agreement_from_doc
from services.app.recording import registration_key
from services.domain.book import ScheduleBook
from services.domain.errors import DomainError
from services.mapping import apply_to_book


def book_in(currency: str) -> ScheduleBook:
    book = ScheduleBook()
    apply_to_book(book, AgreementRegistered(agreement_id="AG", currency=currency), "1-0")
    amendment = AmendmentRecorded.model_validate(
        {
            "agreement_id": "AG",
            "amendment_number": 1,
            "effective_date": date(2024, 1, 1),
            "changes": [
                {
                    "action": "add",
                    "portfolio_id": "P1",
                    "portfolio_name": "Fund",
                    "tiers": [{"from": "0", "to": None, "rate_pct": "0.50"}],
                }
            ],
        }
    )
    apply_to_book(book, amendment, "2-0")
    return book


def test_a_report_is_priced_only_in_its_agreements_currency() -> None:
    book = book_in("EUR")
    book.check_currency("P1", "EUR")
    with pytest.raises(DomainError) as refused:
        book.check_currency("P1", "USD")
    assert (refused.value.field, refused.value.value) == ("currency", "USD")
    assert "EUR" in str(refused.value) and "'P1'" in str(refused.value)
    book_in("USD").check_currency("P1", "USD")


def test_the_read_model_keeps_the_currency() -> None:
    book = book_in("CHF")
    doc = pydantic_core.from_json(agreement_doc(book.agreements["AG"]))
    assert agreement_from_doc(doc, {}).currency == "CHF"


def test_a_default_registration_keeps_the_idempotency_key_it_had_before_currencies() -> None:
    command = AgreementRegistered(
        agreement_id="AG", event_id="e", occurred_at=datetime(2024, 1, 1, tzinfo=UTC)
    )
    # Terms added since, at their defaults.
    added = {"currency", "fee_base", "fee_method", "average_over", "invoice_tolerance"}
    added.add("invoice_tolerance_pct")
    before = command.model_dump(mode="json", exclude={"event_id", "occurred_at", *added})
    old_key = "register:" + hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()
    assert registration_key(command) == old_key
    euro = command.model_copy(update={"currency": "EUR"})
    assert registration_key(euro) != old_key
