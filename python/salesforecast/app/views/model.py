"""Model page: backtest metrics against the baselines, overall and per segment, ensemble
weights, feature importance, residual diagnostics and the backtest windows."""

from __future__ import annotations

import polars as pl
import streamlit as st

from salesforecast import plots
from salesforecast.app import charts, common

loaded = common.current()
fc = loaded.forecaster
history = fc.history
assert history is not None
keys, time_col, target = fc.keys, fc.time_col, fc.target_col
columns = {"id_col": keys, "time_col": time_col, "target_col": target}

st.title("Model")
window = fc.training_window()
st.caption(f"{loaded.label}, fitted {common.when(fc.fitted_at)} on {window['start']} to "
           f"{window['end']} ({window['n_series']} series)")  # fmt: skip

cv = loaded.backtest
scores = loaded.scores
st.subheader("Backtest metrics")
if cv is None or scores is None:
    st.info(
        "No backtest is attached to this model: registry versions logged by the pipeline carry "
        "theirs; for a bundle, give its cross_validation parquet in the sidebar."
    )
else:
    wanted = ["model", "wape", "mase", "mase_vs_seasonal_naive", "rmse", "bias"]
    wanted += [f"coverage_{lv}" for lv in fc.levels]
    shown = [c for c in wanted if c in scores.columns]
    st.dataframe(scores.select(shown).sort("mase"), hide_index=True, width="stretch",
                 column_config=common.metric_columns(fc.levels))  # fmt: skip
    st.caption(f"{cv['cutoff'].n_unique()} backtest windows of {fc.horizon} periods; "
               "mase_vs_seasonal_naive below 1 beats seasonal naive.")  # fmt: skip

    segment_columns = [c for c in [*keys, *fc.static_features]
                       if c in history.columns and history[c].dtype == pl.String]  # fmt: skip
    if segment_columns:
        st.subheader("Per segment")
        segment = st.selectbox("Segment by", segment_columns, key="model.segment")
        own = segment in cv.columns  # a key column; a static feature is joined in
        joined = (
            cv if own else cv.join(history.select([*keys, segment]).unique(subset=keys), on=keys)
        )
        main = "ensemble" if "ensemble" in cv.columns else fc.model_names[0]
        models = [main, *(["seasonal_naive"] if "seasonal_naive" in cv.columns else [])]
        rows = []
        for (value,), part in joined.group_by(segment, maintain_order=True):
            part_scores = fc.evaluate(part if own else part.drop(segment), history,
                                   models=models, levels=())  # fmt: skip
            overall = part_scores.filter(
                (pl.col("scope") == "overall") & pl.col("model").is_in(models)
            )
            row: dict[str, object] = {segment: value}
            for model_row in overall.iter_rows(named=True):
                row[f"{model_row['model']} wape"] = model_row["wape"]
                row[f"{model_row['model']} mase"] = model_row["mase"]
            rows.append(row)
        table = pl.DataFrame(rows).sort(segment)
        formats = {c: st.column_config.NumberColumn(format="percent" if c.endswith("wape")
                                                    else "%.3f")
                   for c in table.columns if c != segment}  # fmt: skip
        st.dataframe(table, hide_index=True, width="stretch", column_config=formats)

left, right = st.columns(2)
if fc.weights:
    left.plotly_chart(
        charts.bars(fc.weights, title="Ensemble weights", x_title="weight"), width="stretch"
    )
importance = fc.feature_importance()
if importance.height:
    # Each booster's gains as shares of its total: LightGBM's and XGBoost's gains differ in
    # scale.
    share = (
        importance.with_columns(pl.col("gain") / pl.col("gain").sum().over("model"))
        .group_by("feature")
        .agg(pl.col("gain").mean())
        .sort("gain", descending=True)
        .head(20)
    )
    right.plotly_chart(
        charts.bars(dict(zip(share["feature"], share["gain"], strict=True)),
                    title="Feature importance, top 20", x_title="share of gain"),
        width="stretch",
    )  # fmt: skip
    right.caption("Each booster's gain as a share of its total, averaged over the boosters.")

if cv is not None:
    model = st.selectbox(
        "Diagnostics of", [c for c in ["ensemble", *fc.model_names] if c in cv.columns],
        key="model.diagnostics",
    )  # fmt: skip
    st.subheader("Residual diagnostics")
    st.image(plots.residuals(cv, model, format="png", **columns).data)  # type: ignore[arg-type]
    st.subheader("Backtest windows")
    st.image(
        plots.backtest(cv, history, model=model, history_periods=4 * fc.horizon, format="png",
                       **columns).data  # type: ignore[arg-type]
    )  # fmt: skip
