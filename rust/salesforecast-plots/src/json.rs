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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Format;

    const SVG: Canvas = Canvas {
        width: 600,
        height: 400,
        format: Format::Svg,
    };

    #[test]
    fn nulls_are_missing_values_and_gaps_stay_gaps() {
        let json = r#"{"title": "t", "y_label": "units",
            "history": {"name": "actual", "x": [0, 1, 2, 3], "y": [1, null, 3, 4]},
            "actual": null, "forecasts": [], "bands": []}"#;
        let chart = render_json("forecast", json, SVG).expect("renders");
        assert!(chart.extent.y.0 < 1.0 && chart.extent.y.1 > 4.0);
        let text = String::from_utf8(chart.bytes).expect("utf-8");
        assert!(text.contains("actual"));
    }

    #[test]
    fn bad_input_names_the_field() {
        let err = render_json("pie", "{}", SVG).expect_err("unknown kind");
        assert!(err.to_string().contains("`kind`"), "{err}");
        let uneven = r#"{"title": "t", "y_label": "u",
            "history": {"name": "actual", "x": [0, 1], "y": [1]},
            "actual": null, "forecasts": [], "bands": []}"#;
        let err = render_json("forecast", uneven, SVG).expect_err("uneven");
        assert!(err.to_string().contains("`history`"), "{err}");
        let err = render_json("weights", r#"{"title": 1}"#, SVG).expect_err("bad json");
        assert!(err.to_string().contains("bad chart data"), "{err}");
    }
}
