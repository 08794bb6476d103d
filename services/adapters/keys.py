"""Every Redis key name, derived from one configurable prefix (default `fees`).

Keys carry a hash tag, so keys that one Lua script or MULTI/EXEC changes together share a
Redis Cluster slot. The agreements log and the read model are on `{fees}`. The fee worker's
keys (input, output, ledger, unpriced, dedupe, checkpoint) are on their partition's tag
`{fees:p<k>}` when net-asset intake is partitioned (`Keys.lane`), and on `{fees}` otherwise,
so one partition's settle step touches one slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "fees"
    # The partition whose fee-worker keys these are (None: intake is not partitioned).
    partition: str | None = None

    @property
    def tag(self) -> str:
        """The hash tag of the agreements log and the read model."""
        return "{" + self.prefix + "}"

    @property
    def lane_tag(self) -> str:
        """The hash tag of the fee worker's keys: the partition's own, when there is one."""
        if self.partition is None:
            return self.tag
        return "{" + f"{self.prefix}:p{self.partition}" + "}"

    def lane(self, partition: int) -> Keys:
        """The keys of one partition of the net-asset intake."""
        return Keys(self.prefix, str(partition))

    def lanes(self, partitions: int) -> list[Keys]:
        """The keys of every partition; one partition keeps the unpartitioned names."""
        if partitions == 1:
            return [Keys(self.prefix)]
        return [self.lane(k) for k in range(partitions)]

    # ---- agreements log (the audit record: never trimmed) ------------------------------
    @property
    def agreements(self) -> str:
        """The agreements log: one stream, the global order of all agreement events."""
        return f"{self.tag}:agreements"

    @property
    def agreement_versions(self) -> str:
        """Hash: agreement id -> number of events recorded for it."""
        return f"{self.tag}:agreement-versions"

    def agreement_events(self, agreement_id: str) -> str:
        """List of log entry ids of one agreement's events, in order."""
        return f"{self.tag}:agreement-events:{agreement_id}"

    @property
    def idempotency(self) -> str:
        """Hash: idempotency key (command id or document sha256) -> log entry id."""
        return f"{self.tag}:idempotency"

    # ---- read model (projector), in generations swapped by a pointer --------------------
    @property
    def read_model_pointer(self) -> str:
        return f"{self.tag}:read-model:current"

    def read_model(self, generation: str) -> str:
        """Prefix of one generation's keys."""
        return f"{self.tag}:rm:{generation}"

    @property
    def partitions(self) -> str:
        """The number of partitions the fee workers route by (set by the first to start)."""
        return f"{self.tag}:partitions"

    # ---- fee worker ------------------------------------------------------------------------
    @property
    def net_assets(self) -> str:
        return f"{self.lane_tag}:net-assets"

    @property
    def accruals(self) -> str:
        return f"{self.lane_tag}:accruals"

    @property
    def dead_letters(self) -> str:
        return f"{self.lane_tag}:dead-letters"

    @property
    def report_outcomes(self) -> str:
        """ReportHeld and ReportIgnored: what became of reports that were not (yet) priced."""
        return f"{self.lane_tag}:report-outcomes"

    def ledger(self, portfolio_id: str) -> str:
        """Hash: as_of date -> ledger entry JSON (what was accrued, from which inputs)."""
        return f"{self.lane_tag}:ledger:{portfolio_id}"

    def coverage(self, portfolio_id: str) -> str:
        """Hash: each day an accrual covers -> the as_of of that accrual (one report a day)."""
        return f"{self.lane_tag}:coverage:{portfolio_id}"

    @property
    def ledger_portfolios(self) -> str:
        return f"{self.lane_tag}:ledger-portfolios"

    @property
    def unpriced(self) -> str:
        """Hash: portfolio|date -> report JSON kept until a schedule covers its date."""
        return f"{self.lane_tag}:unpriced"

    @property
    def closed_months(self) -> str:
        """Hash: portfolio|YYYY-MM -> what the month's close booked (services.app.close)."""
        return f"{self.lane_tag}:closed-months"

    @property
    def commands(self) -> str:
        """Input: commands from accounting systems (CloseMonthRequested)."""
        return f"{self.lane_tag}:commands"

    @property
    def invoices(self) -> str:
        """Input: InvoiceReceived, the adviser's invoice of a portfolio's month."""
        return f"{self.lane_tag}:invoices"

    @property
    def invoice_outcomes(self) -> str:
        """Output: InvoiceMatched or InvoiceBreak, once the invoice's month is closed."""
        return f"{self.lane_tag}:invoice-outcomes"

    @property
    def invoices_waiting(self) -> str:
        """Hash: portfolio|YYYY-MM|invoice id -> an invoice whose month is not closed yet."""
        return f"{self.lane_tag}:invoices-waiting"

    @property
    def worker_checkpoint(self) -> str:
        """Last agreements-log position the fee worker has priced against."""
        return f"{self.lane_tag}:fee-worker:log-position"

    @property
    def advance_lease(self) -> str:
        """Which worker is adjusting this ledger for late knowledge (expires on its own)."""
        return f"{self.lane_tag}:fee-worker:advancing"

    def dedupe(self, report_key: str) -> str:
        return f"{self.lane_tag}:dedupe:{report_key}"

    # ---- consumer groups ------------------------------------------------------------------
    projector_group: ClassVar[str] = "projector"
    fee_worker_group: ClassVar[str] = "fee-worker"
    invoice_group: ClassVar[str] = "fee-worker-invoices"
    command_group: ClassVar[str] = "fee-worker-commands"
