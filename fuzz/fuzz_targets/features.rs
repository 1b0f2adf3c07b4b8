//! Any panel and feature spec through `build_features`: no panic, one output row per input row,
//! and no feature reads the future: raising the target of the latest period changes no feature
//! of any row (target transforms fitted on the whole series, `standardize`, excepted).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use polars::prelude::*;
use salesforecast_core::features::spec::{FeatureSpec, TargetTransform};
use salesforecast_core::features::{build_features, FeatureOptions};
use salesforecast_core::Frequency;
use salesforecast_fuzz::RawPanel;
use serde_json::{json, Value};

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
    // Raise the target of every row at the latest time: the features of all rows stay.
    let times = df.column("date").expect("time").to_physical_repr();
    let times = times.cast(&DataType::Int64).expect("physical times");
    let Some(latest) = times.i64().expect("Int64").max() else {
        return;
    };
    let raise = f64::from(input.raise_by) + 1.0;
    let target = df.column("sales").expect("target").cast(&DataType::Float64);
    let Ok(target) = target else {
        return;
    };
    let raised: Float64Chunked = times
        .i64()
        .expect("Int64")
        .iter()
        .zip(target.f64().expect("Float64").iter())
        .map(|(t, y)| match (t, y) {
            (Some(t), Some(y)) if t == latest && y.is_finite() => Some(y + raise),
            (_, y) => y,
        })
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
    // A raise can only fail where it overflows a Float32 target to infinity.
    let Ok(after) = build_features(&altered, &spec, &options) else {
        return;
    };
    for column in before.columns.columns() {
        if column.name().as_str() == "sales" {
            continue; // the transformed target itself
        }
        let other = after.columns.column(column.name()).expect("same columns");
        assert!(
            bits(column) == bits(other),
            "{} reads the future",
            column.name()
        );
    }
});
