"""Wire contracts of the fee-schedule service: message models, JSON Schema, AsyncAPI."""

from contracts.messages import (
    ALL_MESSAGES,
    AgreementRegistered,
    AmendmentRecorded,
    AmendmentRetracted,
    DeadLetter,
    FeeAccrued,
    FeeAdjusted,
    FeeTrueUp,
    Message,
    NetAssetsReported,
    PeriodClosed,
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
    "FeeTrueUp",
    "Message",
    "NetAssetsReported",
    "PeriodClosed",
    "ReportHeld",
    "ReportIgnored",
]
