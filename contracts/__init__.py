"""Wire contracts of the fee-schedule service: message models, JSON Schema, AsyncAPI."""

from contracts.messages import (
    ALL_MESSAGES,
    AgreementRegistered,
    AmendmentRecorded,
    AmendmentRetracted,
    DeadLetter,
    FeeAccrued,
    FeeAdjusted,
    Message,
    NetAssetsReported,
    ReportHeld,
    ReportIgnored,
)

__all__ = [
    "ALL_MESSAGES",
    "AgreementRegistered",
    "AmendmentRecorded",
    "AmendmentRetracted",
    "DeadLetter",
    "FeeAccrued",
    "FeeAdjusted",
    "Message",
    "NetAssetsReported",
    "ReportHeld",
    "ReportIgnored",
]
