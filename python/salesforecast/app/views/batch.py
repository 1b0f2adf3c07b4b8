"""Batch page: a history file (and optional future covariates), validated, then forecast for
every series."""

from __future__ import annotations

import polars as pl
import streamlit as st

from salesforecast.app import common, uploads
from salesforecast.errors import SalesForecastError

loaded = common.current()
fc = loaded.forecaster

st.title("Batch forecast")
columns = fc.columns
st.markdown(
    f"History of one or more series, CSV or parquet, with the columns `{'`, `'.join(columns)}`, "
    f"at most **{uploads.MAX_MEGABYTES} MB** and **{uploads.MAX_ROWS:,} rows**. It is checked "
    "first: nothing is forecast from data with errors."
    + (
        f" Future covariates (`{'`, `'.join(fc.known_future)}` for each series and forecast "
        "period) are optional: without them no promotion or closure is assumed and prices stay "
        "at their last ordinary day's."
        if fc.known_future
        else ""
    )
)
# Uploads are not kept across pages (Streamlit does not let a file widget be set back).
left, right = st.columns(2)
history_file = left.file_uploader("History", type=["csv", "parquet"], key="upload.history")
future_file = (
    right.file_uploader("Future covariates", type=["csv", "parquet"], key="upload.future")
    if fc.known_future
    else None
)
with st.expander("...or read them from a path or storage URI"):
    history_uri = st.text_input("History path or URI", key="batch.history_uri")
    future_uri = st.text_input("Future covariates path or URI", key="batch.future_uri")


def _read(upload: object, uri: str) -> pl.DataFrame | None:
    if upload is not None:
        return uploads.read_table(upload.getvalue(), upload.name)  # type: ignore[attr-defined]
    return uploads.read_uri(uri) if uri.strip() else None


try:
    history = _read(history_file, history_uri)
    future = _read(future_file, future_uri)
except SalesForecastError as e:
    st.error(str(e))
    st.stop()
if history is None:
    st.info("Upload a history file to forecast.")
    st.stop()

try:
    result = uploads.forecast(fc, history, future)
except SalesForecastError as e:
    st.error(f"Nothing was forecast: {e}")
    st.stop()
if result.problems is not None:
    errors = result.problems.filter(pl.col("severity") == "error")
    st.error(f"Nothing was forecast: the history has {errors['check'].n_unique()} kind(s) of "
             "error. Each problem, with example rows (0-based, in file order):")  # fmt: skip
    st.dataframe(result.problems, hide_index=True, width="stretch")
    st.stop()
assert result.forecast is not None
st.success(f"Forecast {result.series} series, {result.forecast.height:,} rows.")
st.dataframe(result.forecast.head(1000), hide_index=True, width="stretch")
st.download_button("Download CSV", result.forecast.write_csv().encode(),
                   file_name="batch_forecast.csv", mime="text/csv")  # fmt: skip
