"""Versions page: champion against challenger, and the gate's recent decisions with who or
what made them, from the registry's version tags."""

from __future__ import annotations

import polars as pl
import streamlit as st

from salesforecast import tracking
from salesforecast.app import common

SHOWN = ("wape", "mase", "rmse", "coverage_80", "coverage_95")

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
    cell.markdown(f"**{role.title()}: version {version.version}**, registered "
                  f"{version.created_at}, data {version.data_window or 'unknown'}")  # fmt: skip
    # The run's backtest metrics are logged as `{model}.{metric}`.
    table: dict[str, dict[str, float]] = {}
    for key, value in version.metrics.items():
        model, _, metric = key.rpartition(".")
        if model and "." not in model and metric in SHOWN:
            table.setdefault(model, {})[metric] = value
    if table:
        frame = pl.DataFrame([{"model": m, **v} for m, v in table.items()])
        cell.dataframe(frame.sort("model"), hide_index=True, width="stretch")

st.subheader("Gate decisions")
rows = [
    {
        "version": int(v.version),
        "aliases": ", ".join(v.aliases),
        "decision": v.tags.get("gate.decision", "not gated yet"),
        "metric": v.tags.get("gate.metric"),
        "challenger": v.tags.get("gate.challenger_value") or None,
        "champion then": v.tags.get("gate.champion_value") or None,
        "champion version then": v.tags.get("gate.champion_version") or None,
        "reason": v.tags.get("gate.reason"),
        "decided by": v.tags.get("gate.decided_by"),
        "decided at": v.tags.get("gate.decided_at"),
        "registered": v.created_at,
        "data": v.data_window,
    }
    for v in found
]
if rows:
    st.dataframe(pl.DataFrame(rows, infer_schema_length=None), hide_index=True, width="stretch")
else:
    st.info(f"{loaded.name} has no versions yet.")
