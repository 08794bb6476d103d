"""Plotly figure specifications (plain JSON) for the pages' charts.

The only place Decimals become floats: a chart draws, it never computes a fee. Plotly is
served from its Python package (`plotly.offline.get_plotlyjs`), so no page needs the internet.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any


def _money(level: str) -> str:
    value = Decimal(level)
    if value >= 1_000_000_000:
        return f"${value / 1_000_000_000:g}B"
    return f"${value / 1_000_000:g}M"


def _hover(step: dict[str, Any]) -> str:
    lines = [f"from {step['from']}"]
    if step["amendment_number"] is not None:
        lines.append(f"Amendment No. {step['amendment_number']}" + (" (waiver)" * step["waived"]))
    for tier in step["tiers"] or ():
        upper = "and above" if tier["to"] is None else f"to {_money(tier['to'])}"
        lines.append(f"{tier['rate_pct']}% from {_money(tier['from'])} {upper}")
    return "<br>".join(lines) if step["tiers"] else "<br>".join([*lines, "no schedule"])


def schedule_figure(view: dict[str, Any]) -> dict[str, Any]:
    """The step chart: the effective rate at each asset level through valid time, and one
    marker per amendment (or waiver) at its effective date, labelled with its number."""
    steps = view["steps"]
    if not steps:
        return {"data": [], "layout": {"title": {"text": "no schedule on record"}}}
    last = date.fromisoformat(steps[-1]["from"]) + timedelta(days=365)
    xs = [s["from"] for s in steps] + [last.isoformat()]
    traces: list[dict[str, Any]] = []
    for i, level in enumerate(view["levels"]):
        ys = [None if s["rates_pct"][i] is None else float(s["rates_pct"][i]) for s in steps]
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"at {_money(level)}",
                "x": xs,
                "y": [*ys, ys[-1]],
                "line": {"shape": "hv", "width": 2},
                "text": [_hover(s) for s in steps] + [""],
                "hovertemplate": "%{y:.4f}%<br>%{text}<extra>%{fullData.name}</extra>",
            }
        )
    # As the log knew it: recorded by then and not retracted by then.
    marks = [v for v in view["versions"] if v["in_force"]]
    top = max((float(r) for s in steps for r in s["rates_pct"] if r is not None), default=1.0)
    traces.append(
        {
            "type": "scatter",
            "mode": "markers+text",
            "name": "amendments",
            "x": [v["effective_from"] for v in marks],
            "y": [top * 1.04 for _ in marks],
            "text": [f"No. {v['amendment_number']}" + ("w" * v["waiver"]) for v in marks],
            "textposition": "top center",
            "marker": {"symbol": "triangle-down", "size": 11, "color": "#444"},
            "hovertext": [
                f"Amendment No. {v['amendment_number']} ({v['action']}), effective "
                f"{v['effective_from']}: {v['describe'] or '-'}"
                for v in marks
            ],
            "hoverinfo": "text",
        }
    )
    # What the log learned since the moment asked about: shaded, over the whole height.
    shaded = [
        {"type": "rect", "xref": "x", "yref": "paper", "x0": r["from"], "x1": r["to"] or xs[-1],
         "y0": 0, "y1": 1, "fillcolor": "#ffd84d", "opacity": 0.3, "line": {"width": 0},
         "layer": "below"}
        for r in view.get("changed_since", [])
    ]  # fmt: skip
    layout = {
        "shapes": shaded,
        "margin": {"l": 60, "r": 20, "t": 30, "b": 40},
        "height": 380,
        "yaxis": {"title": {"text": "effective rate, % a year"}, "rangemode": "tozero"},
        "xaxis": {"type": "date"},
        "legend": {"orientation": "h", "y": -0.15},
    }
    return {"data": traces, "layout": layout}


def accruals_figure(statement: dict[str, Any]) -> dict[str, Any]:
    """Daily fee (bars) beside net assets (line, right axis); a click opens the day."""
    entries = statement["entries"]
    days = [e["as_of"] for e in entries]
    fee = {
        "type": "bar",
        "name": "daily fee",
        "x": days,
        "y": [float(e["amount"]) for e in entries],
        "customdata": days,
        "hovertemplate": "%{x}: $%{y:,.2f}<extra>fee</extra>",
    }
    assets = {
        "type": "scatter",
        "mode": "lines",
        "name": "net assets",
        "x": days,
        "y": [float(e["net_assets"]) for e in entries],
        "yaxis": "y2",
        "customdata": days,
        "hovertemplate": "%{x}: $%{y:,.0f}<extra>net assets</extra>",
    }
    layout = {
        "margin": {"l": 70, "r": 80, "t": 30, "b": 40},
        "height": 360,
        "yaxis": {"title": {"text": "fee, $"}},
        "yaxis2": {"title": {"text": "net assets, $"}, "overlaying": "y", "side": "right"},
        "legend": {"orientation": "h", "y": -0.15},
    }
    return {"data": [fee, assets], "layout": layout}
