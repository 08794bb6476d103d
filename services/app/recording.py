"""The command side: validate a command against the agreement's recorded history, then append.

`Recorder.record` rebuilds the `Agreement` aggregate from its events, lets the domain rules
judge the command, and appends with the aggregate's version as the expected version. A writer
that lost a race gets `VersionConflict` from the store, backs off (jittered, exponential,
capped), folds in only the events recorded since, and re-judges, until its deadline; then it
raises `ContendedTooLong`, having recorded nothing.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Iterator

from contracts.messages import AgreementRegistered, AmendmentRecorded, AmendmentRetracted
from services.app.ports import AppendResult, EventLog, VersionConflict
from services.domain.agreement import Agreement
from services.domain.errors import DomainError
from services.mapping import amendment_from_wire, event_from_wire

AgreementCommand = AgreementRegistered | AmendmentRecorded | AmendmentRetracted


# How long a command keeps retrying version clashes before it gives up (Settings:
# FEES_RECORD_DEADLINE_MS). A clash only means another writer was quicker, so a writer waits its
# turn for a while rather than failing a filing that is valid.
DEFAULT_DEADLINE_S = 30.0
# The backoff after the n-th clash is uniform in [0, min(cap, first * 2**n)]: the first wait is
# short (one rival is the usual case), the jitter spreads writers that clashed together apart,
# and the cap keeps a writer trying often enough to take its turn among many.
FIRST_BACKOFF_S = 0.002
MAX_BACKOFF_S = 0.2


class ContendedTooLong(VersionConflict):
    """Every try lost the race to another writer until the deadline: nothing was recorded."""

    def __init__(self, clash: VersionConflict, tries: int, seconds: float) -> None:
        super().__init__(clash.agreement_id, clash.expected, clash.actual)
        self.tries = tries
        self.seconds = seconds
        self.args = (
            f"agreement {clash.agreement_id!r}: other writers recorded first on all {tries}"
            f" tries in {seconds:g} s (it is now at version {clash.actual}); nothing was"
            " recorded, and the command can be retried",
        )


def backoff_delays(
    rng: random.Random, first: float = FIRST_BACKOFF_S, cap: float = MAX_BACKOFF_S
) -> Iterator[float]:
    """Seconds to wait after each successive clash: full jitter on a capped exponential."""
    ceiling = first
    while True:
        yield rng.uniform(0, ceiling)
        ceiling = min(cap, ceiling * 2)


def catch_up(store: EventLog, agreement: Agreement) -> Agreement:
    """Fold into `agreement` the events recorded after its version; a retry reads only those."""
    for position, message in store.events_of(agreement.agreement_id, after=agreement.version):
        event = event_from_wire(message, position)
        if event is not None:
            agreement.apply(event)
    return agreement


def rebuild_agreement(store: EventLog, agreement_id: str) -> Agreement:
    """The aggregate as its recorded events left it."""
    return catch_up(store, Agreement(agreement_id))


# Every term added since the first registrations, at its default: keys made before it hold.
ADDED_TERMS = {
    "currency": "USD",
    "fee_base": "same_day",
    "fee_method": "daily",
    "average_over": "calendar_days",
    "invoice_tolerance": "0.01",
    "invoice_tolerance_pct": "0.01",
}


def registration_key(command: AgreementRegistered) -> str:
    """Registering the same terms again is a retry, not a second registration."""
    terms = command.model_dump(mode="json", exclude={"event_id", "occurred_at"})
    for term, default in ADDED_TERMS.items():
        if terms[term] == default:
            del terms[term]
    return "register:" + hashlib.sha256(json.dumps(terms, sort_keys=True).encode()).hexdigest()


class Recorder:
    """Records agreement commands through the event store, enforcing the domain rules.

    `deadline_s` bounds how long one command retries version clashes with other writers.
    """

    def __init__(self, store: EventLog, deadline_s: float = DEFAULT_DEADLINE_S) -> None:
        self.store = store
        self.deadline_s = deadline_s
        self._rng = random.Random()

    def check(self, agreement: Agreement, command: AgreementCommand) -> None:
        if isinstance(command, AgreementRegistered):
            agreement.check_registration()
        elif isinstance(command, AmendmentRecorded):
            agreement.check_amendment(amendment_from_wire(command))
        else:
            agreement.check_retraction(command.amendment_number)

    def record(self, command: AgreementCommand, idempotency_key: str | None = None) -> AppendResult:
        """Append `command` as an event if the rules allow it; a retried key appends nothing.

        The key defaults to the command id (its event id); registrations key on their terms.
        Raises DomainError for a broken rule, ContendedTooLong when clashes outlast the deadline.
        """
        if idempotency_key is None:
            idempotency_key = (
                registration_key(command)
                if isinstance(command, AgreementRegistered)
                else f"command:{command.event_id}"
            )
        deadline = time.monotonic() + self.deadline_s
        delays = backoff_delays(self._rng)
        # Rebuilt once; after a clash only the rivals' new events are read and folded in.
        agreement = Agreement(command.agreement_id)
        tries = 0
        while True:
            tries += 1
            catch_up(self.store, agreement)
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
            except VersionConflict as clash:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ContendedTooLong(clash, tries, self.deadline_s) from clash
                time.sleep(min(next(delays), left))
