"""Interactive Plotly figures of the app."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import polars as pl

# One colour per model, the ensemble darkest; history in grey.
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
ENSEMBLE = "#d62728"


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def forecast(
    history: pl.DataFrame,
    pred: pl.DataFrame,
    *,
    time_col: str,
    target_col: str,
    models: Sequence[str],
    levels: Sequence[int],
    bands_of: str,
    title: str,
) -> go.Figure:
    """History, each model's forecast and the 80/95 (``levels``) intervals of ``bands_of``."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=history[time_col].to_list(),
            y=history[target_col].to_list(),
            name="history",
            mode="lines",
            line={"color": "#7f7f7f", "width": 1.5},
        )
    )
    colour = ENSEMBLE if bands_of == "ensemble" else COLOURS[list(models).index(bands_of) % 7]
    x = pred[time_col].to_list()
    for i, level in enumerate(sorted(levels, reverse=True)):
        lo, hi = f"{bands_of}-lo-{level}", f"{bands_of}-hi-{level}"
        if lo not in pred.columns:
            continue
        fig.add_trace(
            go.Scatter(x=x, y=pred[hi].to_list(), mode="lines", line={"width": 0},
                       showlegend=False, hoverinfo="skip")
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=x,
                y=pred[lo].to_list(),
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor=_rgba(colour, 0.15 + 0.12 * i),
                name=f"{bands_of} {level}% interval",
            )
        )
    for i, model in enumerate(models):
        if model not in pred.columns:
            continue
        main = model == "ensemble"
        fig.add_trace(
            go.Scatter(
                x=x,
                y=pred[model].to_list(),
                name=model,
                mode="lines+markers" if main else "lines",
                line={
                    "color": ENSEMBLE if main else COLOURS[i % len(COLOURS)],
                    "width": 3 if main else 1.5,
                    "dash": None if main else "dot",
                },
            )
        )
    fig.update_layout(
        title=title,
        xaxis_title=time_col,
        yaxis_title=target_col,
        hovermode="x unified",
        legend={"orientation": "h", "y": -0.2},
        margin={"t": 50, "b": 10},
        height=480,
    )
    return fig


def bars(values: dict[str, float], *, title: str, x_title: str) -> go.Figure:
    """Horizontal bars, largest on top."""
    items = sorted(values.items(), key=lambda kv: kv[1])
    fig = go.Figure(
        go.Bar(
            x=[v for _, v in items],
            y=[k for k, _ in items],
            orientation="h",
            marker_color=COLOURS[0],
        )
    )
    fig.update_layout(
        title=title,
        xaxis_title=x_title,
        height=max(260, 28 * len(items) + 100),
        margin={"t": 50, "b": 10},
    )
    return fig
