"""Plotly figures as HTML fragments (plotly.js is served by the app, never from a CDN), each with a
plain-text summary for screen readers."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from markupsafe import Markup

_ids = itertools.count(1)
CONFIG = {"displayModeBar": False, "responsive": True}
LAYOUT = {"margin": {"l": 56, "r": 16, "t": 36, "b": 40}, "height": 300, "template": "plotly_white",
          "legend": {"orientation": "h", "y": -0.2}, "font": {"size": 12}}


@dataclass
class Chart:
    title: str
    html: Markup
    summary: str
    points: int
    chart_id: str
    note: str = ""  # the metric's definition (semantic layer), shown under the chart


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 10 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def line(title: str, series: dict[str, tuple[list, list]], y_title: str = "", kind: str = "lines+markers",
         bar: bool = False, note: str = "") -> Chart:
    """One trace per series name: ``{name: (x values, y values)}``; None values are gaps."""
    import plotly.graph_objects as go

    fig = go.Figure()
    parts, points = [], 0
    for name, (xs, ys) in series.items():
        pairs = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
        points += len(pairs)
        if bar:
            fig.add_bar(x=xs, y=ys, name=name)
        else:
            fig.add_scatter(x=xs, y=ys, mode=kind, name=name, connectgaps=False)
        if pairs:
            low = min(pairs, key=lambda p: p[1])
            high = max(pairs, key=lambda p: p[1])
            parts.append(f"{name}: {len(pairs)} points from {pairs[0][0]} ({_fmt(pairs[0][1])}) to "
                         f"{pairs[-1][0]} ({_fmt(pairs[-1][1])}); lowest {_fmt(low[1])} in {low[0]}, "
                         f"highest {_fmt(high[1])} in {high[0]}.")
        else:
            parts.append(f"{name}: no data.")
    return _render(fig, title, y_title, " ".join(parts), points, note)


def scatter(title: str, groups: dict[str, tuple[list, list, list]], x_title: str, y_title: str) -> Chart:
    """Labelled points per group: ``{name: (xs, ys, hover texts)}`` (no map tiles: plain axes)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    parts, points = [], 0
    for name, (xs, ys, texts) in groups.items():
        fig.add_scatter(x=xs, y=ys, mode="markers", name=name, text=texts, hoverinfo="text+name",
                        marker={"size": 12 if len(xs) == 1 else 9})
        points += len(xs)
        parts.append(f"{name}: {len(xs)} point{'s' if len(xs) != 1 else ''}"
                     + (f" ({'; '.join(texts[:5])})" if texts else "") + ".")
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return _render(fig, title, y_title, " ".join(parts), points)


def bars(title: str, labels: list[str], series: dict[str, list], y_title: str = "", note: str = "") -> Chart:
    import plotly.graph_objects as go

    fig = go.Figure()
    parts, points = [], 0
    for name, ys in series.items():
        fig.add_bar(x=labels, y=ys, name=name)
        points += sum(1 for y in ys if y is not None)
        parts.append(f"{name}: " + ", ".join(f"{lab} {_fmt(y)}" for lab, y in zip(labels, ys, strict=True)) + ".")
    fig.update_layout(barmode="group")
    return _render(fig, title, y_title, " ".join(parts), points, note)


def _render(fig, title: str, y_title: str, summary: str, points: int, note: str = "") -> Chart:
    chart_id = f"chart-{next(_ids)}"
    fig.update_layout(**LAYOUT, title={"text": title, "x": 0})
    if y_title:
        fig.update_yaxes(title_text=y_title)
    html = fig.to_html(full_html=False, include_plotlyjs=False, include_mathjax=False, config=CONFIG,
                       div_id=chart_id, default_width="100%")
    return Chart(title, Markup(html), summary, points, chart_id, note)
