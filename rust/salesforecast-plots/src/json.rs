//! Charts described as JSON (what the Python package sends): missing values come as `null`,
//! since JSON has no NaN.

use serde::{Deserialize, Deserializer};

use crate::charts::{
    BacktestChart, ComparisonChart, CoverageChart, ForecastChart, Heatmap, ImportanceChart,
    OptunaChart, ResidualPanel, WeightsChart,
};
use crate::{render, Canvas, Chart, Figure, PlotError, Result};

#[derive(Deserialize)]
#[serde(transparent)]
struct Num(Option<f64>);

fn value(n: Num) -> f64 {
    n.0.unwrap_or(f64::NAN)
}

pub fn nan_values<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<f64>, D::Error> {
    Ok(Vec::<Num>::deserialize(d)?.into_iter().map(value).collect())
}

pub fn nan_rows<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<Vec<f64>>, D::Error> {
    Ok(Vec::<Vec<Num>>::deserialize(d)?
        .into_iter()
        .map(|row| row.into_iter().map(value).collect())
        .collect())
}

pub fn nan_named_rows<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<(String, Vec<f64>)>, D::Error> {
    Ok(Vec::<(String, Vec<Num>)>::deserialize(d)?
        .into_iter()
        .map(|(name, row)| (name, row.into_iter().map(value).collect()))
        .collect())
}

pub fn nan_level_rows<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<(f64, Vec<f64>)>, D::Error> {
    Ok(Vec::<(f64, Vec<Num>)>::deserialize(d)?
        .into_iter()
        .map(|(level, row)| (level, row.into_iter().map(value).collect()))
        .collect())
}

fn parse_and_render<T: Figure + for<'de> Deserialize<'de>>(
    kind: &str,
    json: &str,
    canvas: Canvas,
) -> Result<Chart> {
    let figure: T = serde_json::from_str(json)
        .map_err(|e| PlotError::invalid_argument(kind, format!("bad chart data: {e}")))?;
    render(&figure, canvas)
}

/// Every chart kind, by the name the Python package uses.
pub const KINDS: [&str; 9] = [
    "forecast",
    "backtest",
    "residuals",
    "importance",
    "comparison",
    "heatmap",
    "coverage",
    "optuna",
    "weights",
];

/// Renders the chart `kind` described by `json`.
pub fn render_json(kind: &str, json: &str, canvas: Canvas) -> Result<Chart> {
    match kind {
        "forecast" => parse_and_render::<ForecastChart>(kind, json, canvas),
        "backtest" => parse_and_render::<BacktestChart>(kind, json, canvas),
        "residuals" => parse_and_render::<ResidualPanel>(kind, json, canvas),
        "importance" => parse_and_render::<ImportanceChart>(kind, json, canvas),
        "comparison" => parse_and_render::<ComparisonChart>(kind, json, canvas),
        "heatmap" => parse_and_render::<Heatmap>(kind, json, canvas),
        "coverage" => parse_and_render::<CoverageChart>(kind, json, canvas),
        "optuna" => parse_and_render::<OptunaChart>(kind, json, canvas),
        "weights" => parse_and_render::<WeightsChart>(kind, json, canvas),
        other => Err(PlotError::invalid_argument(
            "kind",
            format!("unknown chart {other:?}; one of {KINDS:?}"),
        )),
    }
}
