"""The command side: validate a command against the agreement's recorded history, then append.

`Recorder.record` rebuilds the `Agreement` aggregate from its events, lets the domain rules
judge the command, and appends with the aggregate's version as the expected version. A writer
that lost a race gets `VersionConflict` from the store and re-judges against the new history.
"""

from __future__ import annotations

import hashlib
import json

from contracts.messages import AgreementRegistered, AmendmentRecorded, AmendmentRetracted
from services.adapters.eventstore import AppendResult, EventStore, VersionConflict
from services.domain.agreement import Agreement
from services.domain.errors import DomainError
from services.mapping import amendment_from_wire, record_point, registration_from_wire

AgreementCommand = AgreementRegistered | AmendmentRecorded | AmendmentRetracted


def rebuild_agreement(store: EventStore, agreement_id: str) -> Agreement:
    """The aggregate as its recorded events left it."""
    agreement = Agreement(agreement_id)
    for position, event in store.events_of(agreement_id):
        point = record_point(event, position)
        if isinstance(event, AgreementRegistered):
            reg = registration_from_wire(event)
            agreement.register(
                agreement_date=reg.agreement_date,
                trust=reg.trust,
                adviser=reg.adviser,
                day_count=reg.day_count,
                rounding=reg.rounding,
            )
        elif isinstance(event, AmendmentRecorded):
            agreement.apply_amendment(amendment_from_wire(event), event.event_id, point)
        elif isinstance(event, AmendmentRetracted):
            agreement.apply_retraction(event.amendment_number, point)
    return agreement


def registration_key(command: AgreementRegistered) -> str:
    """Registering the same terms again is a retry, not a second registration."""
    terms = command.model_dump(mode="json", exclude={"event_id", "occurred_at"})
    return "register:" + hashlib.sha256(json.dumps(terms, sort_keys=True).encode()).hexdigest()


class Recorder:
    """Records agreement commands through the event store, enforcing the domain rules."""

    def __init__(self, store: EventStore, attempts: int = 3) -> None:
        self.store = store
        self.attempts = attempts

    def check(self, agreement: Agreement, command: AgreementCommand) -> None:
        if isinstance(command, AgreementRegistered):
            if agreement.version > 0:
                raise DomainError(
                    "agreement_id", command.agreement_id, "is already registered (differently)"
                )
        elif isinstance(command, AmendmentRecorded):
            agreement.check_amendment(amendment_from_wire(command))
        else:
            agreement.check_retraction(command.amendment_number)

    def record(self, command: AgreementCommand, idempotency_key: str | None = None) -> AppendResult:
        """Append `command` as an event if the rules allow it; a retried key appends nothing.

        The key defaults to the command id (its event id); registrations key on their terms.
        """
        if idempotency_key is None:
            idempotency_key = (
                registration_key(command)
                if isinstance(command, AgreementRegistered)
                else f"command:{command.event_id}"
            )
        for attempt in range(1, self.attempts + 1):
            agreement = rebuild_agreement(self.store, command.agreement_id)
            try:
                self.check(agreement, command)
            except DomainError:
                # A retry of a command already recorded is not a rule violation.
                seen = self.store.duplicate_of(idempotency_key, command.agreement_id)
                if seen is not None:
                    return seen
                raise
            try:
                return self.store.append(command, agreement.version, idempotency_key)
            except VersionConflict:
                if attempt == self.attempts:
                    raise
        raise AssertionError("unreachable")
