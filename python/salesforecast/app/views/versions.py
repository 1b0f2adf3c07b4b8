"""Versions page: champion against challenger, and the gate's recent decisions with who or
what made them, from the registry's version tags."""

from __future__ import annotations

import polars as pl
import streamlit as st

from salesforecast import tracking
from salesforecast.app import common

SHOWN = ("wape", "mase", "rmse", "coverage_80", "coverage_95")


def _number(tag: str | None) -> float | None:
    """A gate value as recorded in a tag ("" when there was none)."""
    return float(tag) if tag else None


loaded = common.current()
st.title("Versions")
if loaded.name is None:
    st.info(
        "This model was opened from a bundle; versions and the gate's decisions live in the "
        "registry. Open models:/NAME@champion in the sidebar to see them."
    )
    st.stop()

try:
    found = tracking.versions(loaded.name)
except tracking.TrackingError as e:
    st.error(str(e))
    st.stop()

by_alias = {alias: v for v in found for alias in v.aliases}
champion, challenger = by_alias.get(tracking.CHAMPION), by_alias.get(tracking.CHALLENGER)
st.subheader("Champion and challenger")
cells = st.columns(2)
for cell, role, version in ((cells[0], "champion", champion), (cells[1], "challenger", challenger)):
    if version is None:
        cell.info(f"No {role}.")
        continue
    cell.markdown(
        f"**{role.title()}: version {version.version}**, registered "
        f"{common.when(version.created_at)}, data {version.data_window or 'unknown'}"
    )
    # The run's backtest metrics are logged as `{model}.{metric}`.
    table: dict[str, dict[str, float]] = {}
    for key, value in version.metrics.items():
        model, _, metric = key.rpartition(".")
        if model and "." not in model and metric in SHOWN:
            table.setdefault(model, {})[metric] = value
    if table:
        frame = pl.DataFrame([{"model": m, **v} for m, v in table.items()])
        cell.dataframe(
            frame.sort("model"),
            hide_index=True,
            width="stretch",
            column_config=common.metric_columns(loaded.forecaster.levels),
        )

st.subheader("Gate decisions")
rows = [
    {
        "version": int(v.version),
        "aliases": ", ".join(v.aliases),
        "decision": v.tags.get("gate.decision", "not gated yet"),
        "metric": v.tags.get("gate.metric"),
        "challenger": _number(v.tags.get("gate.challenger_value")),
        "champion then": _number(v.tags.get("gate.champion_value")),
        "champion version then": v.tags.get("gate.champion_version") or None,
        "reason": v.tags.get("gate.reason"),
        "decided by": v.tags.get("gate.decided_by"),
        "decided at": common.when(v.tags.get("gate.decided_at"))
        if v.tags.get("gate.decided_at")
        else None,
        "registered": common.when(v.created_at),
        "data": v.data_window,
    }
    for v in found
]
if rows:
    st.dataframe(
        pl.DataFrame(rows, infer_schema_length=None),
        hide_index=True,
        width="stretch",
        column_config={
            "challenger": st.column_config.NumberColumn(format="%.4f"),
            "champion then": st.column_config.NumberColumn(format="%.4f"),
        },
    )
else:
    st.info(f"{loaded.name} has no versions yet.")
