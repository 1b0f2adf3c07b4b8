"""Forecast page: one series, a horizon, a planning scenario; history, every model, the
ensemble and the model's own intervals."""

from __future__ import annotations

import time
from typing import Any

import polars as pl
import streamlit as st

from salesforecast import scenario
from salesforecast.app import charts, common

loaded = common.current()
fc = loaded.forecaster
history = fc.history
assert history is not None
keys, time_col, target = fc.keys, fc.time_col, fc.target_col

st.title("Sales forecast")
st.caption(f"{loaded.label}: forecasts up to {fc.horizon} periods of {fc.freq} ahead for each "
           f"series ({', '.join(keys)})")  # fmt: skip

# The series: one choice per key column, each narrowing the next.
columns = st.columns(len(keys) + 1)
choices = history.select(keys).unique()
series: dict[str, Any] = {}
for column, key in zip(columns, keys, strict=False):
    options = choices[key].unique().sort().to_list()
    state = f"forecast.{key}"
    if st.session_state.get(state) not in options:
        st.session_state[state] = options[0]
    series[key] = column.selectbox(key, options, key=state)
    choices = choices.filter(pl.col(key) == series[key])
st.session_state.setdefault("forecast.h", fc.horizon)
h = columns[-1].slider("Horizon (periods)", 1, fc.horizon, key="forecast.h")

own = history.filter(pl.all_horizontal(pl.col(k) == v for k, v in series.items()))
inputs: dict[str, Any] = {}
base = None
if fc.known_future:
    base = scenario.baseline(fc, own, h)
    days = base[time_col].cast(pl.Date).to_list()
    with st.expander("Scenario: planned promotions, prices and closures", expanded=True):
        st.caption(
            "Without changes the forecast assumes no promotion or closure days and the price of "
            "the last ordinary day. Known-future inputs the model was trained with:"
        )
        cells = st.columns(3)
        controls = scenario.controls(fc, own)
        # Amounts, values and categories are the series' own until changed: another series
        # starts afresh (planned days and a price change carry over).
        if st.session_state.get("scenario.series") != list(series.values()):
            for control in controls:
                if control.kind in ("amount_on_days", "category", "value"):
                    st.session_state.pop(f"scenario.{control.column}", None)
            st.session_state["scenario.series"] = list(series.values())
        for i, control in enumerate(controls):
            cell = cells[i % 3]
            state = f"scenario.{control.column}"
            if control.kind == "days":
                kept = [d for d in st.session_state.get(state, []) if d in days]
                st.session_state[state] = kept
                picked = cell.multiselect(
                    f"Days with {control.column}",
                    days,
                    key=state,
                    format_func=lambda d: d.strftime("%a %d %b %Y"),
                )
                if picked:
                    inputs[control.column] = picked
            elif control.kind == "amount_on_days":
                st.session_state.setdefault(state, round(float(control.default), 4))
                amount = cell.number_input(
                    f"{control.column} on {control.days_column} days", key=state,
                    help=f"Typical {control.column} in the history: {control.default:.3g}",
                )  # fmt: skip
                if st.session_state.get(f"scenario.{control.days_column}"):
                    inputs[control.column] = amount
            elif control.kind == "percent":
                st.session_state.setdefault(state, 0)
                change = cell.slider(f"{control.column} change (%)", -50, 50, key=state)
                if change:
                    inputs[control.column] = change
            elif control.kind == "category":
                options = list(control.options)
                if st.session_state.get(state) not in options:
                    st.session_state[state] = control.default
                chosen = cell.selectbox(control.column, options, key=state)
                if chosen != control.default:
                    inputs[control.column] = chosen
            else:
                st.session_state.setdefault(state, float(control.default))
                value = cell.number_input(control.column, key=state)
                if value != control.default:
                    inputs[control.column] = value

started = time.perf_counter()
planned = None if base is None else scenario.apply(fc, base, inputs, own)
pred = fc.predict(h=h, new_df=own, future=planned)
elapsed = time.perf_counter() - started
unchanged = pred if base is None or not inputs else fc.predict(h=h, new_df=own, future=base)

main = "ensemble" if "ensemble" in pred.columns else fc.model_names[0]
total = float(pred[main].sum())
metrics = st.columns(3)
metrics[0].metric(
    f"{main} total, next {h} periods",
    f"{total:,.1f}",
    delta=None if unchanged is pred else f"{total - float(unchanged[main].sum()):+,.1f} "
    "vs no changes",
)  # fmt: skip
metrics[1].metric(f"Last {h} periods, actual", f"{float(own[target].tail(h).sum()):,.1f}")
metrics[2].metric("Forecast computed in", f"{1000 * elapsed:.0f} ms")

models = [*fc.model_names, *(["ensemble"] if "ensemble" in pred.columns else [])]
bands_of = st.radio("Intervals of", models[::-1], horizontal=True, key="forecast.bands")
shown = own.tail(max(8 * h, 4 * fc.season_length))
name = ", ".join(f"{k} {v}" for k, v in series.items())
st.plotly_chart(
    charts.forecast(shown, pred, time_col=time_col, target_col=target, models=models,
                    levels=fc.levels, bands_of=bands_of, title=name),
    width="stretch",
)  # fmt: skip

# The main forecast and its intervals first, each model after; days without a midnight time.
bounds = [f"{main}-lo-{lv}" for lv in fc.levels[::-1]] + [f"{main}-hi-{lv}" for lv in fc.levels]
ordered = [main, *[c for c in bounds if c in pred.columns]]
ordered += [c for c in pred.columns if c not in ordered and c not in (*keys, time_col)]
times = pred[time_col]
daily = times.dtype == pl.Date or bool((times.dt.truncate("1d") == times).all())
table = pred.select(pl.col(time_col).cast(pl.Date) if daily else pl.col(time_col), *ordered)
one_decimal = st.column_config.NumberColumn(format="%.1f")
st.dataframe(
    table, hide_index=True, width="stretch", column_config=dict.fromkeys(ordered, one_decimal)
)
st.download_button(
    "Download CSV",
    pred.write_csv().encode(),
    file_name=f"forecast_{'_'.join(str(v) for v in series.values())}.csv",
    mime="text/csv",
)
