"""What every page shares: the model chosen in the sidebar (loaded once per source with
``st.cache_resource``), and inputs that outlive reruns and page switches."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from typing import Any

import streamlit as st

from salesforecast.app.source import Loaded, Resolved, SourceError, default_source, load, resolve

# Widget keys with these prefixes keep their values when their page is not shown: Streamlit
# drops the state of widgets a run does not draw, so each value is also saved under a plain
# key, which it keeps.
KEPT = ("forecast.", "scenario.", "batch.", "model.", "source.")
SAVED = "saved:"


def keep_inputs() -> None:
    """Saves the inputs of the last run and restores those whose page was not drawn."""
    state = st.session_state
    for key in list(state):
        if isinstance(key, str) and key.startswith(KEPT):
            state[SAVED + key] = state[key]
    for key in list(state):
        if isinstance(key, str) and key.startswith(SAVED) and key[len(SAVED) :] not in state:
            state[key[len(SAVED) :]] = state[key]


@st.cache_resource(ttl=30, show_spinner=False)
def _resolve(source: str, tracking_uri: str | None) -> Resolved:
    # One registry call per half minute, not per click; a promotion shows within 30 s.
    return resolve(source)


@st.cache_resource(show_spinner="Loading the model...", max_entries=4)
def _load(
    source: str,
    name: str | None,
    version: str | None,
    alias: str | None,
    backtest: str | None,
    tracking_uri: str | None,
) -> Loaded:
    # The key holds the resolved version (a promotion loads the new champion) and the
    # tracking server (another server is another model).
    return load(Resolved(source, name, version, alias), backtest)


def sidebar() -> Loaded | None:
    """The model source inputs and the loaded model (None, with the reason shown, when it
    cannot be loaded)."""
    st.sidebar.header("Model")
    st.session_state.setdefault("source.model", default_source())
    st.session_state.setdefault("source.backtest", os.environ.get("SALESFORECAST_BACKTEST", ""))
    source = st.sidebar.text_input(
        "Registry model or bundle",
        key="source.model",
        help="models:/NAME@champion, models:/NAME/VERSION, or a bundle folder or URI "
        "(s3://bucket/...)",
    )
    backtest = st.sidebar.text_input(
        "Backtest of a bundle (optional)",
        key="source.backtest",
        help="A cross_validation parquet for the model page; registry versions carry theirs",
    )
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI")
    if source.startswith("models:/"):
        st.sidebar.caption(
            f"MLflow: {tracking_uri or 'local ./mlruns (MLFLOW_TRACKING_URI unset)'}"
        )
    try:
        now = _resolve(source, tracking_uri)
        loaded = _load(now.source, now.name, now.version, now.alias, backtest or None, tracking_uri)
    except SourceError as e:
        st.error(str(e))
        return None
    fc = loaded.forecaster
    window = fc.training_window()
    st.sidebar.success(loaded.label)
    st.sidebar.caption(
        f"Fitted {when(fc.fitted_at)} on {window['start']} to "
        f"{window['end']}, {window['n_series']} series; horizon {fc.horizon} x {fc.freq}"
    )
    scores = loaded.scores
    mase = {} if scores is None else dict(zip(scores["model"], scores["mase"], strict=True))
    main = "ensemble" if "ensemble" in mase else fc.model_names[0]
    if isinstance(mase.get(main), float):
        naive = mase.get("seasonal_naive")
        against = f" vs seasonal naive {naive:.3f}" if isinstance(naive, float) else ""
        st.sidebar.caption(f"Backtest MASE: {main} {mase[main]:.3f}{against}")
    return loaded


def current() -> Loaded:
    """The loaded model; stops the page when there is none (the sidebar said why)."""
    loaded = st.session_state.get("loaded")
    if loaded is None:
        st.stop()
    assert isinstance(loaded, Loaded)
    return loaded


def when(stamp: str | None) -> str:
    """An ISO timestamp as ``2026-12-01 20:41 UTC``."""
    if not stamp:
        return "at an unknown time"
    moment = dt.datetime.fromisoformat(stamp).astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def metric_columns(levels: Sequence[int]) -> dict[str, Any]:
    """Column formats of a metrics table: shares as percentages, errors to 3 decimals."""
    percent = st.column_config.NumberColumn(format="percent")
    decimals = st.column_config.NumberColumn(format="%.3f")
    return {
        "wape": percent,
        **{f"coverage_{lv}": percent for lv in levels},
        **{c: decimals for c in ("mase", "mase_vs_seasonal_naive", "rmse", "bias", "mae")},
    }
