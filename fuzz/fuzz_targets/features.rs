//! Any panel and feature spec through `build_features`: no panic, one output row per input row,
//! and no feature reads the future: raising the target of each series' last period changes no
//! feature of any row, nor the transformed target before it (`standardize`, fitted on the whole
//! series, excepted).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use polars::prelude::*;
use salesforecast_core::features::spec::{FeatureSpec, TargetTransform};
use salesforecast_core::features::{build_features, FeatureOptions};
use salesforecast_core::Frequency;
use salesforecast_fuzz::RawPanel;
use serde_json::{json, Value};
use std::collections::HashMap;

const STATS: [&str; 8] = [
    "mean",
    "std",
    "min",
    "max",
    "sum",
    "median",
    "quantile(0.9)",
    "mode",
];
const CALENDAR: [&str; 8] = [
    "dayofweek",
    "month",
    "weekofyear",
    "is_month_end",
    "holiday",
    "days_to_holiday",
    "dayofyear_sin",
    "hour",
];
const TRANSFORMS: [&str; 5] = ["log1p", "diff", "diff7", "standardize", "diff0"];
const FREQS: [&str; 5] = ["1d", "1w", "1mo", "3d", "1h"];

#[derive(Arbitrary, Debug)]
struct Window {
    window: i8,
    lag: i8,
    min_samples: Option<i8>,
    season_length: i8,
    stat: u8,
}

#[derive(Arbitrary, Debug)]
struct Spec {
    lags: Vec<i8>,
    rolling: Vec<Window>,
    seasonal_rolling: Vec<Window>,
    expanding: Vec<(i8, u8)>,
    ewm: Vec<(f64, i8)>,
    calendar: Vec<u8>,
    target_transforms: Vec<u8>,
}

impl Spec {
    /// The wire form Python sends, so the spec's own checks are fuzzed too.
    fn json(&self) -> String {
        let pick = |names: &[&str], i: u8| names[usize::from(i) % names.len()].to_owned();
        let window = |w: &Window, seasonal: bool| {
            let mut entry = json!({
                "window": w.window, "lag": w.lag, "stats": [pick(&STATS, w.stat)],
                "min_samples": w.min_samples,
            });
            if seasonal {
                entry["season_length"] = json!(w.season_length);
            }
            entry
        };
        let ewm: Vec<Value> = self
            .ewm
            .iter()
            .map(|&(alpha, lag)| json!({"alpha": if alpha.is_finite() { alpha } else { 0.5 }, "lag": lag}))
            .collect();
        json!({
            "lags": self.lags,
            "rolling": self.rolling.iter().map(|w| window(w, false)).collect::<Vec<_>>(),
            "seasonal_rolling": self.seasonal_rolling.iter().map(|w| window(w, true)).collect::<Vec<_>>(),
            "expanding": self.expanding.iter().map(|&(lag, s)| json!({"lag": lag, "stats": [pick(&STATS, s)]})).collect::<Vec<_>>(),
            "ewm": ewm,
            "calendar": self.calendar.iter().map(|&c| pick(&CALENDAR, c)).collect::<Vec<_>>(),
            "target_transforms": self.target_transforms.iter().map(|&t| pick(&TRANSFORMS, t)).collect::<Vec<_>>(),
        })
        .to_string()
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    panel: salesforecast_fuzz::RawPanel,
    spec: Spec,
    freq: Option<u8>,
    float32: bool,
    raise_by: u16,
}

/// Every value of a feature column as bits (NaN and null each compare equal to themselves).
fn bits(column: &Column) -> Vec<Option<u64>> {
    let values = column
        .cast(&DataType::Float64)
        .expect("features are numeric");
    values
        .f64()
        .expect("cast to Float64")
        .iter()
        .map(|v| v.map(|v| if v.is_nan() { u64::MAX } else { v.to_bits() }))
        .collect()
}

/// Whether each row is the last (latest time) of its series; `None` when keys or times are not
/// comparable (the builder refused such a frame anyway).
fn last_rows(df: &DataFrame) -> Option<Vec<bool>> {
    let keys = df.column("store").ok()?.cast(&DataType::String).ok()?;
    let times = df.column("date").ok()?.to_physical_repr();
    let times = times.cast(&DataType::Int64).ok()?;
    let pairs: Vec<(Option<&str>, Option<i64>)> = keys
        .str()
        .ok()?
        .iter()
        .zip(times.i64().ok()?.iter())
        .collect();
    let mut latest: HashMap<Option<&str>, i64> = HashMap::new();
    for &(key, time) in &pairs {
        let time = time?;
        let entry = latest.entry(key).or_insert(time);
        *entry = (*entry).max(time);
    }
    Some(
        pairs
            .iter()
            .map(|(key, time)| *time == latest.get(key).copied())
            .collect(),
    )
}

fuzz_target!(|input: Input| {
    let Ok(df) = input.panel.frame() else {
        return;
    };
    let Ok(spec) = FeatureSpec::from_json(&input.spec.json()) else {
        return;
    };
    let options = FeatureOptions {
        roles: RawPanel::roles(),
        exogenous: Default::default(),
        freq: input
            .freq
            .map(|f| Frequency::parse(FREQS[usize::from(f) % FREQS.len()]).expect("valid")),
        holidays: None,
        float32: input.float32,
    };
    let Ok(before) = build_features(&df, &spec, &options) else {
        return;
    };
    assert_eq!(before.columns.height(), df.height());
    if spec
        .target_transforms
        .contains(&TargetTransform::Standardize)
    {
        return;
    }
    // Raise the target of each series' last row: no feature of any row changes, nor the
    // transformed target of the rows before.
    let Some(raised_rows) = last_rows(&df) else {
        return;
    };
    let raise = f64::from(input.raise_by) + 1.0;
    let Ok(target) = df.column("sales").expect("target").cast(&DataType::Float64) else {
        return;
    };
    let raised: Float64Chunked = target
        .f64()
        .expect("Float64")
        .iter()
        .zip(&raised_rows)
        .map(|(y, &last)| y.map(|y| if last && y.is_finite() { y + raise } else { y }))
        .collect();
    let mut altered = df.clone();
    altered
        .with_column(
            raised
                .into_series()
                .with_name("sales".into())
                .cast(df.column("sales").expect("target").dtype())
                .expect("same dtype")
                .into_column(),
        )
        .expect("same height");
    // A raised integer target can leave its dtype's range; then the frame is not the same.
    let Ok(after) = build_features(&altered, &spec, &options) else {
        return;
    };
    // Output rows are in panel order: each one's input row.
    let input_row = |i: usize| before.order.as_ref().map_or(i, |order| order[i] as usize);
    for column in before.columns.columns() {
        let other = after.columns.column(column.name()).expect("same columns");
        let (old, new) = (bits(column), bits(other));
        let transformed_target = column.name().as_str() == "sales";
        for (i, (a, b)) in old.iter().zip(&new).enumerate() {
            if transformed_target && raised_rows[input_row(i)] {
                continue; // the raised value itself, transformed
            }
            assert!(
                a == b,
                "{} reads the future at output row {i}",
                column.name()
            );
        }
    }
});
