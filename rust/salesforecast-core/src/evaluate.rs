//! `evaluate`: metrics of every model column of a forecast frame, per series, per segment and
//! overall, with the baselines (naive, seasonal naive, moving average) computed from the history.

use crate::baselines::Baseline;
use crate::error::{CoreError, Result};
use crate::freq::Frequency;
use crate::grid::series_on_grid;
use crate::metrics::{point_metrics, Interval, PointMetrics, Scale};
use crate::panel::{column, numeric_values, ColumnRoles, Panel};
use polars::prelude::*;
use std::collections::{BTreeMap, HashMap};

/// Baseline models added to every evaluation that has a history.
pub const BASELINES: [&str; 3] = ["naive", "seasonal_naive", "moving_average"];

/// Settings of `evaluate`.
#[derive(Debug, Clone)]
pub struct EvaluateOptions {
    pub roles: ColumnRoles,
    /// Prediction columns; intervals are read from `{model}-lo-{level}` / `{model}-hi-{level}`.
    pub models: Vec<String>,
    pub levels: Vec<u32>,
    pub season_length: usize,
    /// Also report per value of this column (constant per series, e.g. `category`).
    pub segment_col: Option<String>,
    /// Column holding each row's forecast origin (cross-validation frames).
    pub cutoff_col: Option<String>,
    pub freq: Option<Frequency>,
}

/// A series' history on its grid.
struct History {
    start: i64,
    values: Vec<f64>,
    price: Option<Vec<f64>>,
}

fn histories(
    df: &DataFrame,
    roles: &ColumnRoles,
    freq: Option<Frequency>,
) -> Result<(HashMap<Vec<String>, History>, Frequency)> {
    let panel = Panel::build(df, roles)?;
    let freq = match freq {
        Some(f) => f,
        None => Frequency::infer(&panel.times, &panel.offsets, panel.axis)?,
    };
    let target = panel.gather(numeric_values(column(df, &roles.target_col)?)?);
    let prices = match df.column("price") {
        Ok(c) if c.dtype().is_primitive_numeric() => Some(series_on_grid(
            &panel,
            &panel.gather(numeric_values(c)?),
            freq,
            &roles.time_col,
        )?),
        _ => None,
    };
    let mut prices = prices.map(Vec::into_iter);
    let out = series_on_grid(&panel, &target, freq, &roles.time_col)?
        .into_iter()
        .zip(&panel.keys)
        .map(|(grid, key)| {
            let price = prices.as_mut().and_then(Iterator::next).map(|p| p.values);
            (
                key.clone(),
                History {
                    start: grid.start,
                    values: grid.values,
                    price,
                },
            )
        })
        .collect();
    Ok((out, freq))
}

/// The reference baselines, in [`BASELINES`] order; the moving average spans one season.
fn reference_baselines(season_length: usize) -> [Baseline; 3] {
    [
        Baseline::Naive,
        Baseline::SeasonalNaive { season_length },
        Baseline::MovingAverage {
            window: season_length,
        },
    ]
}

/// Lower and upper bounds of one interval level, in panel order.
type Bounds = (Vec<f64>, Vec<f64>);

struct Row {
    series: usize,
    target: f64,
    predictions: Vec<f64>,
    bounds: Vec<Vec<(f64, f64)>>,
}

/// Evaluates `forecasts` (keys, time, target and one column per model) against the actuals in
/// its target column. Returns one row per (scope, unit, model) with every metric.
pub fn evaluate(
    forecasts: &DataFrame,
    history: Option<&DataFrame>,
    opts: &EvaluateOptions,
) -> Result<DataFrame> {
    if opts.season_length == 0 {
        return Err(CoreError::invalid_argument(
            "season_length",
            "must be at least 1",
        ));
    }
    let roles = &opts.roles;
    let panel = Panel::build(forecasts, roles)?;
    let target = panel.gather(numeric_values(column(forecasts, &roles.target_col)?)?);
    let mut models = opts.models.clone();
    // Times of another type (unit or time zone) would be read as the forecasts' times. The
    // cutoffs are only read against a history.
    if let Some(h) = history {
        let own = column(forecasts, &roles.time_col)?.dtype();
        let same_type = |col: &Column, expected: String| -> Result<()> {
            if col.dtype() == own {
                return Ok(());
            }
            Err(CoreError::ColumnType {
                column: col.name().to_string(),
                expected,
                found: col.dtype().to_string(),
            })
        };
        let expected = format!("{own} in the history, as in the forecasts");
        same_type(column(h, &roles.time_col)?, expected)?;
        if let Some(c) = &opts.cutoff_col {
            let expected = format!("{own}, the type of the forecasts' `{}`", roles.time_col);
            same_type(column(forecasts, c)?, expected)?;
        }
    }
    let hist = history
        .map(|h| histories(h, roles, opts.freq))
        .transpose()?;
    if hist.is_some() {
        models.extend(
            BASELINES
                .iter()
                .filter(|b| !opts.models.iter().any(|m| m == *b))
                .map(|b| (*b).to_owned()),
        );
    }
    let model_values: Vec<Option<Vec<f64>>> = models
        .iter()
        .map(|m| match forecasts.column(m) {
            Ok(c) => numeric_values(c).map(|v| Some(panel.gather(v))),
            Err(_) if BASELINES.contains(&m.as_str()) && hist.is_some() => Ok(None),
            Err(_) => column(forecasts, m).map(|_| None),
        })
        .collect::<Result<_>>()?;
    let bounds: Vec<Vec<Option<Bounds>>> = models
        .iter()
        .map(|m| {
            opts.levels
                .iter()
                .map(|l| {
                    match (
                        forecasts.column(&format!("{m}-lo-{l}")),
                        forecasts.column(&format!("{m}-hi-{l}")),
                    ) {
                        (Ok(lo), Ok(hi)) => Ok(Some((
                            panel.gather(numeric_values(lo)?),
                            panel.gather(numeric_values(hi)?),
                        ))),
                        _ => Ok(None),
                    }
                })
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<_>>()?;
    let cutoffs = opts
        .cutoff_col
        .as_ref()
        .map(|c| crate::panel::time_values(column(forecasts, c)?).map(|v| panel.gather(v)))
        .transpose()?;
    let segments: Option<Vec<String>> = opts
        .segment_col
        .as_ref()
        .map(|c| -> Result<Vec<String>> {
            let col = column(forecasts, c)?.cast(&DataType::String)?;
            let ca = col.str()?;
            Ok(panel
                .order
                .iter()
                .map(|&i| ca.get(i as usize).unwrap_or("").to_owned())
                .collect())
        })
        .transpose()?;

    // One row per forecast point with every model's prediction (baselines from the history).
    let mut rows: Vec<Row> = Vec::with_capacity(target.len());
    let mut scales: Vec<Option<Scale>> = vec![None; panel.n_series()];
    let mut revenue: Vec<f64> = vec![0.0; panel.n_series()];
    for s in 0..panel.n_series() {
        let h = hist
            .as_ref()
            .and_then(|(map, freq)| map.get(&panel.keys[s]).map(|h| (h, *freq)));
        for pos in panel.range(s) {
            let t = panel.times[pos];
            let mut predictions = Vec::with_capacity(models.len());
            // History up to this row's origin: the cutoff, or the end of the history.
            let past = h.map(|(h, freq)| {
                let end = match &cutoffs {
                    Some(c) => freq
                        .steps_between(h.start, c[pos], panel.axis)
                        .map_or(0, |k| (k + 1).max(0) as usize)
                        .min(h.values.len()),
                    None => h.values.len(),
                };
                let step = freq
                    .steps_between(h.start, t, panel.axis)
                    .map_or(1, |k| (k as usize + 1).saturating_sub(end).max(1));
                (&h.values[..end], step)
            });
            for (k, values) in model_values.iter().enumerate() {
                predictions.push(match (values, past) {
                    (Some(v), _) => v[pos],
                    (None, Some((p, step))) => reference_baselines(opts.season_length)
                        [BASELINES.iter().position(|b| *b == models[k]).unwrap_or(0)]
                    .forecast(p, step),
                    (None, None) => f64::NAN,
                });
            }
            let row_bounds = bounds
                .iter()
                .map(|levels| {
                    levels
                        .iter()
                        .map(|b| {
                            b.as_ref()
                                .map_or((f64::NAN, f64::NAN), |(lo, hi)| (lo[pos], hi[pos]))
                        })
                        .collect()
                })
                .collect();
            rows.push(Row {
                series: s,
                target: target[pos],
                predictions,
                bounds: row_bounds,
            });
            if scales[s].is_none() {
                if let Some((p, _)) = past {
                    scales[s] = Some(Scale::of_history(p, opts.season_length));
                }
            }
        }
        if let Some((h, _)) = h {
            // M5 weights: revenue over the last 28 periods of history (units when no price).
            let n = h.values.len();
            let from = n.saturating_sub(28);
            revenue[s] = (from..n)
                .map(|i| {
                    let units = h.values[i];
                    let price = h.price.as_ref().map_or(1.0, |p| p[i]);
                    if units.is_finite() && price.is_finite() {
                        units * price
                    } else {
                        0.0
                    }
                })
                .sum();
        }
    }

    let metrics_of = |idx: &[usize], model: usize, scale: Option<Scale>| -> Result<PointMetrics> {
        let y: Vec<f64> = idx.iter().map(|&i| rows[i].target).collect();
        let p: Vec<f64> = idx.iter().map(|&i| rows[i].predictions[model]).collect();
        let los: Vec<Vec<f64>> = (0..opts.levels.len())
            .map(|l| idx.iter().map(|&i| rows[i].bounds[model][l].0).collect())
            .collect();
        let his: Vec<Vec<f64>> = (0..opts.levels.len())
            .map(|l| idx.iter().map(|&i| rows[i].bounds[model][l].1).collect())
            .collect();
        let intervals: Vec<Interval<'_>> = opts
            .levels
            .iter()
            .enumerate()
            .filter(|(l, _)| los[*l].iter().any(|v| v.is_finite()))
            .map(|(l, &level)| Interval {
                level: f64::from(level),
                lo: &los[l],
                hi: &his[l],
            })
            .collect();
        point_metrics(&y, &p, scale, &intervals)
    };

    let mut by_series: Vec<Vec<usize>> = vec![Vec::new(); panel.n_series()];
    for (i, r) in rows.iter().enumerate() {
        by_series[r.series].push(i);
    }
    let mut table = Table::new(&opts.levels);
    let all: Vec<usize> = (0..rows.len()).collect();
    for (k, model) in models.iter().enumerate() {
        let per_series: Vec<PointMetrics> = (0..panel.n_series())
            .map(|s| metrics_of(&by_series[s], k, scales[s]))
            .collect::<Result<_>>()?;
        for (s, m) in per_series.iter().enumerate() {
            table.push("series", &panel.label(s), model, m, f64::NAN);
        }
        if let Some(seg) = &segments {
            let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
            for (i, r) in rows.iter().enumerate() {
                groups
                    .entry(seg[panel.offsets[r.series]].as_str())
                    .or_default()
                    .push(i);
            }
            for (name, idx) in groups {
                let mut m = metrics_of(&idx, k, None)?;
                let members: Vec<usize> = (0..panel.n_series())
                    .filter(|&s| seg[panel.offsets[s]] == name)
                    .collect();
                m.mase = mean_finite(members.iter().map(|&s| per_series[s].mase));
                m.rmsse = mean_finite(members.iter().map(|&s| per_series[s].rmsse));
                table.push("segment", name, model, &m, f64::NAN);
            }
        }
        let mut overall = metrics_of(&all, k, None)?;
        overall.mase = mean_finite(per_series.iter().map(|m| m.mase));
        overall.rmsse = mean_finite(per_series.iter().map(|m| m.rmsse));
        let total: f64 = revenue.iter().sum();
        let weighted = if total > 0.0 {
            per_series
                .iter()
                .zip(&revenue)
                .filter(|(m, _)| m.rmsse.is_finite())
                .map(|(m, w)| m.rmsse * w / total)
                .sum()
        } else {
            f64::NAN
        };
        table.push("overall", "all", model, &overall, weighted);
    }
    table.finish()
}

fn mean_finite(values: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for v in values.filter(|v| v.is_finite()) {
        sum += v;
        n += 1;
    }
    if n == 0 {
        f64::NAN
    } else {
        sum / n as f64
    }
}

/// The output table, column by column.
struct Table {
    levels: Vec<u32>,
    scope: Vec<String>,
    unit: Vec<String>,
    model: Vec<String>,
    n: Vec<u32>,
    values: BTreeMap<&'static str, Vec<f64>>,
    interval_values: Vec<[Vec<f64>; 3]>,
    mape_zeros: Vec<u32>,
    weighted_rmsse: Vec<f64>,
}

const METRICS: [&str; 9] = [
    "rmse", "mae", "mape", "smape", "wape", "mase", "rmsse", "r2", "bias",
];

impl Table {
    fn new(levels: &[u32]) -> Self {
        Self {
            levels: levels.to_vec(),
            scope: vec![],
            unit: vec![],
            model: vec![],
            n: vec![],
            values: METRICS.iter().map(|m| (*m, vec![])).collect(),
            interval_values: levels.iter().map(|_| [vec![], vec![], vec![]]).collect(),
            mape_zeros: vec![],
            weighted_rmsse: vec![],
        }
    }

    fn push(
        &mut self,
        scope: &str,
        unit: &str,
        model: &str,
        m: &PointMetrics,
        weighted_rmsse: f64,
    ) {
        self.scope.push(scope.to_owned());
        self.unit.push(unit.to_owned());
        self.model.push(model.to_owned());
        self.n.push(m.n as u32);
        let values = [
            m.rmse, m.mae, m.mape, m.smape, m.wape, m.mase, m.rmsse, m.r2, m.bias,
        ];
        for (name, v) in METRICS.iter().zip(values) {
            if let Some(col) = self.values.get_mut(name) {
                col.push(v);
            }
        }
        for (l, level) in self.levels.iter().enumerate() {
            let found = m.intervals.iter().find(|iv| iv.0 == f64::from(*level));
            let (cov, wink, pin) =
                found.map_or((f64::NAN, f64::NAN, f64::NAN), |iv| (iv.1, iv.2, iv.3));
            self.interval_values[l][0].push(cov);
            self.interval_values[l][1].push(wink);
            self.interval_values[l][2].push(pin);
        }
        self.mape_zeros.push(m.mape_zeros as u32);
        self.weighted_rmsse.push(weighted_rmsse);
    }

    fn finish(self) -> Result<DataFrame> {
        let height = self.scope.len();
        let mut columns = vec![
            Column::new("scope".into(), self.scope),
            Column::new("unit".into(), self.unit),
            Column::new("model".into(), self.model),
            Column::new("n".into(), self.n),
        ];
        for name in METRICS {
            columns.push(Column::new(
                name.into(),
                self.values.get(name).cloned().unwrap_or_default(),
            ));
        }
        columns.push(Column::new("mape_zeros".into(), self.mape_zeros));
        columns.push(Column::new("weighted_rmsse".into(), self.weighted_rmsse));
        for (level, [cov, wink, pin]) in self.levels.iter().zip(self.interval_values) {
            columns.push(Column::new(format!("coverage_{level}").into(), cov));
            columns.push(Column::new(format!("winkler_{level}").into(), wink));
            columns.push(Column::new(format!("pinball_{level}").into(), pin));
        }
        Ok(DataFrame::new(height, columns)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{epoch, frame};

    fn some(values: &[f64]) -> Vec<Option<f64>> {
        values.iter().copied().map(Some).collect()
    }

    fn options(models: &[&str], levels: &[u32]) -> EvaluateOptions {
        EvaluateOptions {
            roles: ColumnRoles::new(vec!["store".into()], "date", "y").unwrap(),
            models: models.iter().map(|m| (*m).to_owned()).collect(),
            levels: levels.to_vec(),
            season_length: 1,
            segment_col: None,
            cutoff_col: None,
            freq: Some(Frequency::Days(1)),
        }
    }

    fn with(mut df: DataFrame, name: &str, values: &[f64]) -> DataFrame {
        df.with_column(Column::new(name.into(), values.to_vec()))
            .unwrap();
        df
    }

    /// The value of `metric` in the row of (`scope`, `model`).
    fn metric(table: &DataFrame, scope: &str, model: &str, metric: &str) -> f64 {
        let scopes = table.column("scope").unwrap().str().unwrap().clone();
        let models = table.column("model").unwrap().str().unwrap().clone();
        let values = table.column(metric).unwrap().f64().unwrap().clone();
        (0..table.height())
            .find(|&i| scopes.get(i) == Some(scope) && models.get(i) == Some(model))
            .and_then(|i| values.get(i))
            .unwrap_or_else(|| panic!("no {scope} row for {model}"))
    }

    /// Store A: history 1..=6 on days 0-5, actuals 7 and 9 on days 6-7, forecast 8 and 8
    /// with an 80% interval [6, 8].
    fn forecast_and_history() -> (DataFrame, DataFrame) {
        let history = frame(
            &["A"; 6],
            &[0, 1, 2, 3, 4, 5],
            &some(&[1., 2., 3., 4., 5., 6.]),
        );
        let forecasts = frame(&["A"; 2], &[6, 7], &some(&[7.0, 9.0]));
        let forecasts = with(forecasts, "m", &[8.0, 8.0]);
        let forecasts = with(forecasts, "m-lo-80", &[6.0, 6.0]);
        let forecasts = with(forecasts, "m-hi-80", &[8.0, 8.0]);
        (forecasts, history)
    }

    #[test]
    fn point_scaled_and_interval_metrics_hand_computed() {
        let (forecasts, history) = forecast_and_history();
        let out = evaluate(&forecasts, Some(&history), &options(&["m"], &[80])).unwrap();
        assert_eq!(metric(&out, "overall", "m", "mae"), 1.0);
        assert_eq!(metric(&out, "overall", "m", "wape"), 2.0 / 16.0);
        assert_eq!(metric(&out, "overall", "m", "bias"), 0.0);
        // The history's lag-1 differences are all 1: MASE is the MAE.
        assert_eq!(metric(&out, "series", "m", "mase"), 1.0);
        assert_eq!(metric(&out, "overall", "m", "coverage_80"), 0.5);
        // Winkler: width 2, plus 2 / 0.2 x 1 for the actual above the bound: (2 + 12) / 2.
        assert!((metric(&out, "overall", "m", "winkler_80") - 7.0).abs() < 1e-12);
    }

    #[test]
    fn baselines_forecast_from_the_history() {
        let (forecasts, history) = forecast_and_history();
        let out = evaluate(&forecasts, Some(&history), &options(&["m"], &[])).unwrap();
        // Naive, seasonal naive (season 1) and the one-season moving average all say 6.
        for baseline in BASELINES {
            assert_eq!(metric(&out, "overall", baseline, "mae"), 2.0, "{baseline}");
        }
        let without = evaluate(&forecasts, None, &options(&["m"], &[])).unwrap();
        let models = without.column("model").unwrap().str().unwrap().clone();
        assert!(models.iter().all(|m| m == Some("m")));
    }

    #[test]
    fn backtest_baselines_forecast_from_each_cutoff() {
        // A window with cutoff day 3 (value 4): the naive forecast of days 4 and 5 is 4.
        let history = frame(
            &["A"; 6],
            &[0, 1, 2, 3, 4, 5],
            &some(&[1., 2., 3., 4., 5., 6.]),
        );
        let forecasts = with(
            frame(&["A"; 2], &[4, 5], &some(&[5.0, 6.0])),
            "m",
            &[5.0, 6.0],
        );
        let cutoff = Column::new("cutoff".into(), vec![epoch(2023, 1, 5); 2])
            .cast(&DataType::Date)
            .unwrap();
        let mut forecasts = forecasts;
        forecasts.with_column(cutoff).unwrap();
        let mut opts = options(&["m"], &[]);
        opts.cutoff_col = Some("cutoff".into());
        let out = evaluate(&forecasts, Some(&history), &opts).unwrap();
        assert_eq!(metric(&out, "overall", "naive", "mae"), 1.5);
        assert_eq!(metric(&out, "overall", "m", "mae"), 0.0);
    }

    #[test]
    fn segments_pool_their_series() {
        let forecasts = frame(
            &["A", "A", "B", "B"],
            &[6, 7, 6, 7],
            &some(&[1.0, 1.0, 2.0, 2.0]),
        );
        let mut forecasts = with(forecasts, "m", &[2.0, 2.0, 2.0, 4.0]);
        forecasts
            .with_column(Column::new("cat".into(), ["x", "x", "x", "x"]))
            .unwrap();
        let mut opts = options(&["m"], &[]);
        opts.segment_col = Some("cat".into());
        let out = evaluate(&forecasts, None, &opts).unwrap();
        // Absolute errors 1, 1, 0, 2 over actuals summing to 6.
        assert_eq!(metric(&out, "segment", "m", "wape"), 4.0 / 6.0);
        assert_eq!(metric(&out, "overall", "m", "mae"), 1.0);
        let series = out
            .column("scope")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .filter(|s| *s == Some("series"))
            .count();
        assert_eq!(series, 2);
    }

    #[test]
    fn bad_settings_and_columns_are_typed_errors() {
        let (forecasts, history) = forecast_and_history();
        let mut opts = options(&["m"], &[]);
        opts.season_length = 0;
        assert!(matches!(
            evaluate(&forecasts, Some(&history), &opts),
            Err(CoreError::InvalidArgument { .. })
        ));
        assert!(matches!(
            evaluate(&forecasts, None, &options(&["absent"], &[])),
            Err(CoreError::MissingColumn { .. })
        ));
    }
}
