"""Examples of every message, as the service writes them on the wire (the JSON in `data`).

contracts/messages.py puts them in each model's JSON Schema (`examples`); asyncapi.yaml shows them
per message. They tell one story: Amendment No. 22 sets 0.88% to $500M and 0.83% over for the
Met/AIM Small Cap Growth Portfolio from 2006-11-01, and $750M of net assets on that day accrue
$17,739.73. The tests validate each against the models, jsonschema and ajv, and check that the
models write each back byte for byte, so an example never shows what the service would not write.
Plain data: no imports from the models, which import this module.
"""

from __future__ import annotations

import json
from typing import Any

PID = "met-aim-small-cap-growth-portfolio"
_NAV_STREAM = "{fees}:net-assets"
# Amendment No. 22 as a schedule_ref names it, and its tiers: the story of every example here
# and of the amendment file's and the month statement's.
NO_22: dict[str, Any] = {
    "agreement_id": "met-investors",
    "amendment_number": 22,
    "effective_date": "2006-11-01",
    "event_id": "00a02faf-ad4c-4259-9c03-da3b48150ffd",
    "position": "1795883921249-0",
    "waiver": False,
}
TIERS_22: list[dict[str, Any]] = [
    {"from": "0", "to": "500000000", "rate_pct": "0.88"},
    {"from": "500000000", "to": None, "rate_pct": "0.83"},
]
_NO_18: dict[str, Any] = {
    **NO_22,
    "amendment_number": 18,
    "effective_date": "2006-05-01",
    "event_id": "7c4b1d2e-5f60-4a7b-8c9d-0e1f2a3b4c5d",
    "position": "1795883920411-0",
}
# The invoice of the example's month, as each invoice message names it.
_INVOICE: dict[str, Any] = {
    "invoice_id": "inv-2006-11",
    "agreement_id": "met-investors",
    "portfolio_id": PID,
    "month": "2006-11",
}


def _envelope(event_id: str, at: str) -> dict[str, Any]:
    # The envelope but its type, which each example takes from its message's name (the key).
    return {"schema_version": 1, "event_id": event_id, "occurred_at": at}


_EXAMPLES: dict[str, list[dict[str, Any]]] = {
    "AgreementRegistered": [
        {
            **_envelope("3f6c1a2b-9d8e-4f70-a1b2-c3d4e5f60718", "2026-11-28T16:38:40.120000Z"),
            "agreement_id": "met-investors",
            "agreement_date": "2000-12-08",
            "trust": "Met Investors Series Trust",
            "adviser": "Met Investors Advisory Corp.",
            "agreement_type": "management",
            "day_count": "ACT/365F",
            "rounding": "ROUND_HALF_UP:0.01",
        }
    ],
    "AmendmentRecorded": [
        {
            **_envelope(NO_22["event_id"], "2026-11-28T16:38:41.249000Z"),
            "agreement_id": "met-investors",
            "amendment_number": 22,
            "effective_date": "2006-11-01",
            "executed_date": None,
            "source": {
                "title": "AMENDMENT NO. 22 TO MANAGEMENT AGREEMENT",
                "sha256": "9a1f0c3e5b7d2a4c6e8f0b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f0a",
                "url": None,
            },
            "changes": [
                {
                    "action": "revise",
                    "portfolio_id": PID,
                    "portfolio_name": "Met/AIM Small Cap Growth Portfolio",
                    "tiers": TIERS_22,
                }
            ],
        },
        {
            **_envelope("b2c3d4e5-f607-4819-a2b3-c4d5e6f70819", "2026-11-28T16:38:43.002000Z"),
            "agreement_id": "met-investors",
            "amendment_number": 23,
            "effective_date": "2007-01-01",
            "executed_date": "2006-12-15",
            "source": {"title": None, "sha256": None, "url": None},
            "changes": [
                {
                    "action": "rename",
                    "portfolio_id": PID,
                    "new_name": "Met/Invesco Small Cap Growth Portfolio",
                    "former_name": "Met/AIM Small Cap Growth Portfolio",
                },
                {
                    "action": "waiver",
                    "portfolio_id": PID,
                    "portfolio_name": "Met/Invesco Small Cap Growth Portfolio",
                    "tiers": [{"from": "0", "to": None, "rate_pct": "0.80"}],
                    "period": {"from": "2007-01-01", "to": "2007-12-31"},
                },
                {"action": "remove", "portfolio_id": "met-money-market-portfolio"},
            ],
        },
    ],
    "AmendmentRetracted": [
        {
            **_envelope("c3d4e5f6-0718-492a-b3c4-d5e6f708192a", "2026-11-28T16:40:02.500000Z"),
            "agreement_id": "met-investors",
            "amendment_number": 22,
            "reason": "recorded in error",
        }
    ],
    "NetAssetsReported": [
        {
            **_envelope("nav-2006-11-01", "2006-11-01T21:00:00Z"),
            "report_id": "nav-2006-11-01",
            "portfolio_id": PID,
            "as_of": "2006-11-01",
            "net_assets": "750000000.00",
            "currency": "USD",
            "accrual_days": 1,
            "revision": 0,
        }
    ],
    "FeeAccrued": [
        {
            **_envelope("e5bc1eeb-2031-556b-91ca-72d637c00049", "2026-11-28T16:38:42.857528Z"),
            "accrual_id": f"{PID}:2006-11-01",
            "portfolio_id": PID,
            "as_of": "2006-11-01",
            "net_assets": "750000000.00",
            "currency": "USD",
            "accrual_days": 1,
            "day_count": "ACT/365F",
            "year_basis": 365,
            "rounding": "ROUND_HALF_UP:0.01",
            "annual_fee": "6475000.0000",
            "amount": "17739.73",
            "amount_exact": "17739.72602739726027397260273972603",
            "effective_rate_pct": "0.8633333333333333333333333333333333",
            # Each band of the breakdown is a tier of Amendment No. 22's schedule.
            "breakdown": [
                {**TIERS_22[0], "assets_in_band": "500000000", "annual_charge": "4400000.00"},
                {**TIERS_22[1], "assets_in_band": "250000000.00", "annual_charge": "2075000.0000"},
            ],
            "schedule_ref": NO_22,
            "report_id": "nav-2006-11-01",
            "revision": 0,
        }
    ],
    "FeeAdjusted": [
        {
            **_envelope("4d5e6f70-8192-5a3b-c4d5-e6f708192a3b", "2026-11-28T16:38:43.120000Z"),
            "adjustment_id": f"{PID}:2006-11-01:1",
            "accrual_id": f"{PID}:2006-11-01",
            "portfolio_id": PID,
            "as_of": "2006-11-01",
            "previous_amount": "18493.15",
            "new_amount": "17739.73",
            "delta": "-753.42",
            "new_amount_exact": "17739.72602739726027397260273972603",
            "net_assets": "750000000.00",
            "reason": "amendment",
            "schedule_ref": NO_22,
            "previous_schedule_ref": _NO_18,
            "report_id": "nav-2006-11-01",
            "revision": 0,
        }
    ],
    "FeeTrueUp": [
        {
            **_envelope("8192a3b4-c5d6-5e6f-0819-2a3b4c5d6e7f", "2026-12-01T09:00:00.000000Z"),
            "true_up_id": f"{PID}:2006-11",
            "portfolio_id": PID,
            "agreement_id": "met-investors",
            "month": "2006-11",
            "method": "average_daily_net_assets",
            "average_over": "calendar_days",
            "currency": "USD",
            "rounding": "ROUND_HALF_UP:0.01",
            "fee": "532191.78",
            "fee_exact": "532191.7808219178082191780821917808",
            "daily_total": "532191.90",
            "true_up": "-0.12",
            "parts": [
                {
                    "from": "2006-11-01",
                    "to": "2006-11-30",
                    "days": 30,
                    "average_net_assets": "750000000.00",
                    "schedule_ref": NO_22,
                    "fee_exact": "532191.7808219178082191780821917808",
                }
            ],
        }
    ],
    "PeriodClosed": [
        {
            **_envelope("92a3b4c5-d6e7-5f70-8192-a3b4c5d6e7f8", "2026-12-01T09:00:00.000000Z"),
            "portfolio_id": PID,
            "month": "2006-11",
            "true_up_id": f"{PID}:2006-11",
        }
    ],
    "CloseMonthRequested": [
        {
            **_envelope("d6e7f809-1a2b-5c3d-e4f5-a6b7c8d9e0f1", "2026-12-01T08:59:00.000000Z"),
            "request_id": "close-2006-11",
            "month": "2006-11",
            "agreement_id": "met-investors",
            "force": False,
        }
    ],
    "MonthCloseRefused": [
        {
            **_envelope("e7f8091a-2b3c-5d4e-f5a6-b7c8d9e0f1a2", "2026-12-01T09:00:00.000000Z"),
            "request_id": "close-2006-11",
            "portfolio_id": PID,
            "month": "2006-11",
            "missing": ["2006-11-30: no accrual covers it"],
        }
    ],
    "InvoiceReceived": [
        {
            **_envelope("a3b4c5d6-e7f8-5091-a2b3-c4d5e6f70819", "2026-12-02T08:00:00.000000Z"),
            **_INVOICE,
            "amount": "532191.78",
            "currency": "USD",
        }
    ],
    "InvoiceMatched": [
        {
            **_envelope("b4c5d6e7-f809-51a2-b3c4-d5e6f708192a", "2026-12-02T08:00:01.000000Z"),
            **_INVOICE,
            "currency": "USD",
            "amount": "532191.79",
            "expected": "532191.78",
            "difference": "0.01",
            "tolerance": "53.22",
        }
    ],
    "InvoiceBreak": [
        {
            **_envelope("c5d6e7f8-0912-5a3b-c4d5-e6f708192a3b", "2026-12-02T08:00:01.000000Z"),
            **_INVOICE,
            "currency": "USD",
            "amount": "554794.52",
            "expected": "532191.78",
            "difference": "22602.74",
            "tolerance": "53.22",
            "implied_rate_pct": "0.90",
            "explanations": [
                "the invoice is the month's fee at 0.90% flat, the schedule of Amendment No. 18"
                " (effective 2005-05-01); Amendment No. 22 (effective 2006-11-01) sets the"
                " schedule in force"
            ],
        }
    ],
    "ReportHeld": [
        {
            **_envelope("5e6f7081-92a3-5b4c-d5e6-f708192a3b4c", "2026-11-28T16:38:42.901000Z"),
            "source_stream": _NAV_STREAM,
            "entry_id": "1795883922901-0",
            "report_id": "nav-2001-09-28",
            "portfolio_id": PID,
            "as_of": "2001-09-28",
            "revision": 0,
            "code": "no_schedule",
            "reason": "as_of: 2001-09-28 is before any schedule of the portfolio; priced once"
            " an amendment covers it",
        }
    ],
    "ReportIgnored": [
        {
            **_envelope("6f708192-a3b4-5c5d-e6f7-08192a3b4c5d", "2026-11-28T16:38:42.950000Z"),
            "source_stream": _NAV_STREAM,
            "entry_id": "1795883922950-0",
            "report_id": "nav-2006-11-01",
            "portfolio_id": PID,
            "as_of": "2006-11-01",
            "revision": 0,
            "code": "duplicate",
            "reason": "the same report (revision 0) is already accrued",
            "accrual_id": f"{PID}:2006-11-01",
            "held_report_id": "nav-2006-11-01",
            "held_revision": 0,
        }
    ],
    "DeadLetter": [
        {
            **_envelope("708192a3-b4c5-5d6e-f708-192a3b4c5d6e", "2026-11-28T16:38:42.990000Z"),
            "source_stream": _NAV_STREAM,
            "entry_id": "1795883922990-0",
            "fields": {
                "type": "NetAssetsReported",
                "data": json.dumps(
                    {
                        "report_id": "nav-2006-11-02",
                        "portfolio_id": PID,
                        "as_of": "2006-11-02",
                        "net_assets": 750000000.5,
                    },
                    separators=(",", ":"),
                ),
            },
            "code": "invalid_field",
            "reason": 'net_assets: 750000000.5 must be a decimal string such as "0.88", not a'
            " JSON number (it may not hold the digits exactly)",
            "deliveries": 1,
            "consumer": "fee-worker-1",
        }
    ],
}
MESSAGE_EXAMPLES: dict[str, list[dict[str, Any]]] = {
    kind: [{"type": kind, **example} for example in examples]
    for kind, examples in _EXAMPLES.items()
}
"""Per message type, the examples its JSON Schema and asyncapi.yaml show."""
