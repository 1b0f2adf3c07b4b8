//! The feature engine: target-derived, calendar and exogenous features for a long panel, built
//! per series on its regular period grid (missing periods are NaN, never skipped over), in
//! parallel over blocks of series, into one output column per feature.

mod buffers;
pub mod kernels;
pub mod spec;

use crate::calendar::HolidayCalendar;
use crate::error::{CoreError, Result};
use crate::freq::{Frequency, TimeAxis};
use crate::panel::{column, numeric_values, ColumnRoles, Panel};
use chrono::{Datelike, Timelike};
use polars::prelude::*;
use rayon::prelude::*;
use spec::{CalendarFeature, FeatureSpec, Stat, TargetTransform};
use std::collections::HashMap;
use std::f64::consts::TAU;

pub use spec::target_feature_names;

/// Which columns play which role besides keys, time and target.
#[derive(Debug, Clone, Default)]
pub struct ExogenousRoles {
    /// Constant per series (store size, category); strings become integer codes.
    pub static_features: Vec<String>,
    /// Known for every period ahead (calendar, planned price, promotion): used at their own date.
    pub known_future: Vec<String>,
    /// Observed only up to the forecast origin (traffic, stock level): used only through lags.
    pub past_only: Vec<String>,
}

/// Settings of `build_features`.
#[derive(Debug, Clone)]
pub struct FeatureOptions {
    pub roles: ColumnRoles,
    pub exogenous: ExogenousRoles,
    pub freq: Option<Frequency>,
    /// Holiday dates as epoch days; the US federal calendar when `None`.
    pub holidays: Option<Vec<i64>>,
    /// Write features as Float32 (half the memory) instead of Float64.
    pub float32: bool,
}

/// The panel laid on its period grid.
struct Grid {
    panel: Panel,
    freq: Frequency,
    /// Grid position of each row (panel order) within its series; only series with missing
    /// periods need it, so it stays empty when every series is complete.
    positions: Vec<u32>,
    /// Grid length of each series.
    lengths: Vec<usize>,
}

impl Grid {
    fn build(df: &DataFrame, roles: &ColumnRoles, freq: Option<Frequency>) -> Result<Self> {
        let panel = Panel::build(df, roles)?;
        let freq = match freq {
            Some(f) => {
                f.check_axis(panel.axis)?;
                f
            }
            None => Frequency::infer(&panel.times, &panel.offsets, panel.axis)?,
        };
        // Most series are complete: check that in parallel, with one subtraction per row when
        // the step is a fixed duration.
        let fixed_step = match freq {
            Frequency::Months(_) => None,
            _ => Some(freq.advance(0, 1, panel.axis)),
        };
        let regular: Vec<bool> = (0..panel.n_series())
            .into_par_iter()
            .map(|s| {
                let times = &panel.times[panel.range(s)];
                match fixed_step {
                    Some(step) => times.windows(2).all(|w| w[1] - w[0] == step),
                    None => times
                        .windows(2)
                        .all(|w| freq.steps_between(w[0], w[1], panel.axis) == Some(1)),
                }
            })
            .collect();
        let mut positions = Vec::new();
        let mut lengths = Vec::with_capacity(panel.n_series());
        for (s, &is_regular) in regular.iter().enumerate() {
            let r = panel.range(s);
            let first = panel.times[r.start];
            if is_regular {
                lengths.push(r.len());
                continue;
            }
            if positions.is_empty() {
                positions = vec![0u32; panel.times.len()];
            }
            let mut previous = None;
            for pos in r.clone() {
                let step = freq
                    .steps_between(first, panel.times[pos], panel.axis)
                    .and_then(|k| u32::try_from(k).ok())
                    .ok_or_else(|| {
                        CoreError::invalid_data(
                            &roles.time_col,
                            format!(
                                "series {} has {} at row {}, off its {freq} grid",
                                panel.label(s),
                                panel.axis.format(panel.times[pos]),
                                panel.order[pos]
                            ),
                        )
                    })?;
                if previous == Some(step) {
                    return Err(CoreError::invalid_data(
                        &roles.time_col,
                        format!(
                            "series {} repeats {} at row {}",
                            panel.label(s),
                            panel.axis.format(panel.times[pos]),
                            panel.order[pos]
                        ),
                    ));
                }
                previous = Some(step);
                positions[pos] = step;
            }
            lengths.push(positions[r.end - 1] as usize + 1);
        }
        Ok(Self {
            panel,
            freq,
            positions,
            lengths,
        })
    }

    fn is_regular(&self, s: usize) -> bool {
        self.lengths[s] == self.panel.range(s).len()
    }

    /// Values of series `s` (panel-ordered `values`) on its grid, NaN in missing periods.
    fn dense<'a>(&self, s: usize, values: &'a [f64], scratch: &'a mut Vec<f64>) -> &'a [f64] {
        let r = self.panel.range(s);
        if self.is_regular(s) {
            return &values[r];
        }
        scratch.clear();
        scratch.resize(self.lengths[s], f64::NAN);
        for pos in r {
            scratch[self.positions[pos] as usize] = values[pos];
        }
        scratch
    }
}

/// The output columns of one block of consecutive series.
struct Block<'a> {
    series: std::ops::Range<usize>,
    row_start: usize,
    columns: Vec<&'a mut [f64]>,
}

/// Splits every column at the block boundaries, so blocks can be filled in parallel.
fn split_blocks<'a>(
    columns: &'a mut [Vec<f64>],
    panel: &Panel,
    rows_per_block: usize,
) -> Vec<Block<'a>> {
    let mut bounds = vec![0usize];
    for s in 0..panel.n_series() {
        if panel.offsets[s + 1] - panel.offsets[*bounds.last().unwrap_or(&0)] >= rows_per_block {
            bounds.push(s + 1);
        }
    }
    if *bounds.last().unwrap_or(&0) != panel.n_series() {
        bounds.push(panel.n_series());
    }
    let mut blocks: Vec<Block<'a>> = bounds
        .windows(2)
        .map(|w| Block {
            series: w[0]..w[1],
            row_start: panel.offsets[w[0]],
            columns: Vec::with_capacity(columns.len()),
        })
        .collect();
    for col in columns.iter_mut() {
        let mut rest: &mut [f64] = col.as_mut_slice();
        for block in blocks.iter_mut() {
            let len = panel.offsets[block.series.end] - panel.offsets[block.series.start];
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(len);
            block.columns.push(head);
            rest = tail;
        }
    }
    blocks
}

/// Per-series state of the target transforms, kept to undo them on predictions.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScaleState {
    pub mean: f64,
    pub std: f64,
}

fn transform_series(
    y: &mut [f64],
    transforms: &[TargetTransform],
    label: &dyn Fn() -> String,
    target_col: &str,
) -> Result<Vec<ScaleState>> {
    let mut states = Vec::new();
    for t in transforms {
        match *t {
            TargetTransform::Log1p => {
                if let Some(v) = y.iter().find(|v| **v <= -1.0) {
                    return Err(CoreError::invalid_data(
                        target_col,
                        format!("log1p needs values above -1; series {} has {v}", label()),
                    ));
                }
                for v in y.iter_mut() {
                    *v = v.ln_1p();
                }
            }
            TargetTransform::Standardize => {
                let mut finite: Vec<f64> = y.iter().copied().filter(|v| v.is_finite()).collect();
                let mean = kernels::stat_of(&mut finite, Stat::Mean);
                let std = kernels::stat_of(&mut finite, Stat::Std);
                let std = if std.is_finite() && std > 0.0 {
                    std
                } else {
                    1.0
                };
                let mean = if mean.is_finite() { mean } else { 0.0 };
                for v in y.iter_mut() {
                    *v = (*v - mean) / std;
                }
                states.push(ScaleState { mean, std });
            }
            TargetTransform::Difference(k) => {
                for q in (0..y.len()).rev() {
                    y[q] = if q >= k { y[q] - y[q - k] } else { f64::NAN };
                }
            }
        }
    }
    Ok(states)
}

/// Computes the target features of one series on its grid into `outs` (one slice per feature,
/// each as long as the grid).
fn target_features(y: &[f64], spec: &FeatureSpec, outs: &mut [&mut [f64]]) {
    let mut k = 0;
    for &l in &spec.lags {
        kernels::lag(y, l, outs[k]);
        k += 1;
    }
    for r in &spec.rolling {
        let n = r.stats.len();
        kernels::rolling(
            y,
            r.window,
            r.lag,
            r.min_samples,
            &r.stats,
            &mut outs[k..k + n],
        );
        k += n;
    }
    for r in &spec.seasonal_rolling {
        let n = r.stats.len();
        kernels::seasonal_rolling(
            y,
            r.season_length,
            r.window,
            r.lag,
            r.min_samples,
            &r.stats,
            &mut outs[k..k + n],
        );
        k += n;
    }
    for e in &spec.expanding {
        let n = e.stats.len();
        kernels::expanding(y, e.lag, &e.stats, &mut outs[k..k + n]);
        k += n;
    }
    for e in &spec.ewm {
        kernels::ewm(y, e.alpha, e.lag, outs[k]);
        k += 1;
    }
}

/// Values of a column for the features: numbers as f64, strings and categories as codes of
/// their sorted distinct values.
fn exogenous_values(df: &DataFrame, name: &str) -> Result<Vec<f64>> {
    let col = column(df, name)?;
    let dtype = col.dtype();
    if dtype.is_primitive_numeric() || dtype.is_bool() {
        return numeric_values(col);
    }
    if dtype.is_string() || dtype.is_categorical() || dtype.is_enum() {
        let as_str = col.cast(&DataType::String)?;
        let ca = as_str.str()?;
        let mut distinct: Vec<&str> = ca.iter().flatten().collect();
        distinct.sort_unstable();
        distinct.dedup();
        let code: HashMap<&str, f64> = distinct
            .iter()
            .enumerate()
            .map(|(i, v)| (*v, i as f64))
            .collect();
        return Ok(ca.iter().map(|v| v.map_or(f64::NAN, |v| code[v])).collect());
    }
    Err(CoreError::ColumnType {
        column: name.to_owned(),
        expected: "a numeric, boolean, string or categorical type".into(),
        found: dtype.to_string(),
    })
}

fn calendar_value(
    feature: CalendarFeature,
    axis: TimeAxis,
    t: i64,
    holidays: &HolidayCalendar,
) -> f64 {
    let dt = axis.to_naive(t);
    let d = dt.date();
    let day = crate::freq::date_to_epoch_day(d);
    let dow = f64::from(d.weekday().num_days_from_monday());
    let doy = f64::from(d.ordinal());
    let month = f64::from(d.month());
    let days_in_year = if d.leap_year() { 366.0 } else { 365.0 };
    let is_month_end = d.succ_opt().is_none_or(|n| n.month() != d.month());
    let next = holidays.days().partition_point(|&h| h < day);
    let prev = holidays.days().partition_point(|&h| h <= day);
    match feature {
        CalendarFeature::DayOfWeek => dow,
        CalendarFeature::DayOfMonth => f64::from(d.day()),
        CalendarFeature::DayOfYear => doy,
        CalendarFeature::WeekOfYear => f64::from(d.iso_week().week()),
        CalendarFeature::Month => month,
        CalendarFeature::Quarter => f64::from((d.month() - 1) / 3 + 1),
        CalendarFeature::Year => f64::from(d.year()),
        CalendarFeature::IsWeekend => f64::from(u8::from(dow >= 5.0)),
        CalendarFeature::IsMonthStart => f64::from(u8::from(d.day() == 1)),
        CalendarFeature::IsMonthEnd => f64::from(u8::from(is_month_end)),
        CalendarFeature::DayOfWeekSin => (TAU * dow / 7.0).sin(),
        CalendarFeature::DayOfWeekCos => (TAU * dow / 7.0).cos(),
        CalendarFeature::DayOfYearSin => (TAU * (doy - 1.0) / days_in_year).sin(),
        CalendarFeature::DayOfYearCos => (TAU * (doy - 1.0) / days_in_year).cos(),
        CalendarFeature::MonthSin => (TAU * (month - 1.0) / 12.0).sin(),
        CalendarFeature::MonthCos => (TAU * (month - 1.0) / 12.0).cos(),
        CalendarFeature::Holiday => f64::from(u8::from(holidays.contains(day))),
        CalendarFeature::DaysToHoliday => holidays
            .days()
            .get(next)
            .map_or(f64::NAN, |&h| (h - day) as f64),
        CalendarFeature::DaysSinceHoliday => prev
            .checked_sub(1)
            .and_then(|i| holidays.days().get(i))
            .map_or(f64::NAN, |&h| (day - h) as f64),
        CalendarFeature::Hour => f64::from(dt.hour()),
    }
}

/// The holiday calendar of the options, or the US federal one around the panel's years (one
/// year past its end, for the periods a forecast adds).
fn holiday_calendar(options: &FeatureOptions, panel: &Panel) -> HolidayCalendar {
    match &options.holidays {
        Some(days) => HolidayCalendar::from_days(days.iter().copied()),
        None => {
            let year = |t: Option<&i64>| t.map(|&t| panel.axis.to_naive(t).year()).unwrap_or(1970);
            HolidayCalendar::us(
                year(panel.times.iter().min()) - 1,
                year(panel.times.iter().max()) + 2,
            )
        }
    }
}

/// Rows per parallel block: big enough to amortise scheduling, small enough to balance.
const ROWS_PER_BLOCK: usize = 1 << 16;

/// The computed columns of `build_features`, in panel order (sorted by series, then time).
#[derive(Debug, Clone)]
pub struct FeatureFrame {
    /// The transformed target (named as the target column) when `target_transforms` are set,
    /// then one column per feature. Keys, time and an untransformed target are not repeated:
    /// take them from the input frame in `order`.
    pub columns: DataFrame,
    /// Input row of each output row, or `None` when the input was already sorted.
    pub order: Option<Vec<IdxSize>>,
}

/// Builds every feature of `spec` for every row of `df`.
pub fn build_features(
    df: &DataFrame,
    spec: &FeatureSpec,
    options: &FeatureOptions,
) -> Result<FeatureFrame> {
    let roles = &options.roles;
    let grid = Grid::build(df, roles, options.freq)?;
    let panel = &grid.panel;
    let n_rows = panel.times.len();
    let raw_target = panel.gather_f64(numeric_values(column(df, &roles.target_col)?)?);

    let target_names = target_feature_names(spec);
    let past_lags = spec.past_lags();
    let past_values: Vec<(String, Vec<f64>)> = options
        .exogenous
        .past_only
        .iter()
        .map(|c| Ok((c.clone(), panel.gather_f64(exogenous_values(df, c)?))))
        .collect::<Result<_>>()?;
    let past_names = spec.past_feature_names(past_values.iter().map(|(c, _)| c.as_str()));

    // Target features, then past-only lags, then (only when transforms change it) the
    // transformed target. Every position is written by the kernels, so the buffers start as
    // untouched zero pages and the workers fault them in, in parallel.
    let transformed = !spec.target_transforms.is_empty();
    let n_features = target_names.len() + past_names.len();
    let n_cols = n_features + usize::from(transformed);
    let mut columns: Vec<Vec<f64>> = (0..n_cols)
        .map(|_| buffers::feature_buffer(n_rows))
        .collect();
    let blocks = split_blocks(&mut columns, panel, ROWS_PER_BLOCK);
    blocks
        .into_par_iter()
        .try_for_each(|mut block| -> Result<()> {
            let mut dense_buf = Vec::new();
            let mut scratch: Vec<Vec<f64>> = Vec::new();
            for s in block.series.clone() {
                let r = panel.range(s);
                let local = r.start - block.row_start..r.end - block.row_start;
                let grid_len = grid.lengths[s];
                let mut y = grid.dense(s, &raw_target, &mut dense_buf).to_vec();
                transform_series(
                    &mut y,
                    &spec.target_transforms,
                    &|| panel.label(s),
                    &roles.target_col,
                )?;
                if grid.is_regular(s) {
                    let (features, target_col) = block.columns.split_at_mut(n_features);
                    if transformed {
                        target_col[0][local.clone()].copy_from_slice(&y);
                    }
                    let mut outs: Vec<&mut [f64]> =
                        features.iter_mut().map(|c| &mut c[local.clone()]).collect();
                    target_features(&y, spec, &mut outs[..target_names.len()]);
                    let mut k = target_names.len();
                    for (_, values) in &past_values {
                        let x = &values[r.clone()];
                        for &l in past_lags {
                            kernels::lag(x, l, outs[k]);
                            k += 1;
                        }
                    }
                } else {
                    scratch.resize_with(n_features, Vec::new);
                    for buf in scratch.iter_mut() {
                        buf.clear();
                        buf.resize(grid_len, f64::NAN);
                    }
                    let mut outs: Vec<&mut [f64]> =
                        scratch.iter_mut().map(|b| b.as_mut_slice()).collect();
                    target_features(&y, spec, &mut outs[..target_names.len()]);
                    let mut k = target_names.len();
                    let mut exo_buf = Vec::new();
                    for (_, values) in &past_values {
                        let x = grid.dense(s, values, &mut exo_buf);
                        for &l in past_lags {
                            kernels::lag(x, l, outs[k]);
                            k += 1;
                        }
                    }
                    for (i, pos) in r.clone().enumerate() {
                        let g = grid.positions[pos] as usize;
                        for (f, buf) in scratch.iter().enumerate() {
                            block.columns[f][local.start + i] = buf[g];
                        }
                        if transformed {
                            block.columns[n_features][local.start + i] = y[g];
                        }
                    }
                }
            }
            Ok(())
        })?;

    let mut group_columns = group_features(df, spec, &grid, &raw_target)?;

    // Calendar features from the time of each row.
    let holidays = holiday_calendar(options, panel);
    let calendar_columns: Vec<(String, Vec<f64>)> = spec
        .calendar
        .par_iter()
        .map(|&f| {
            (
                f.name().to_owned(),
                panel
                    .times
                    .iter()
                    .map(|&t| calendar_value(f, panel.axis, t, &holidays))
                    .collect(),
            )
        })
        .collect();

    // Static and known-future covariates at their own row.
    let mut exo_columns: Vec<(String, Vec<f64>)> = Vec::new();
    for name in &options.exogenous.static_features {
        let values = panel.gather_f64(exogenous_values(df, name)?);
        for s in 0..panel.n_series() {
            let r = panel.range(s);
            let first = values[r.start];
            if let Some(pos) = r
                .clone()
                .find(|&p| !(values[p] == first || (values[p].is_nan() && first.is_nan())))
            {
                return Err(CoreError::invalid_data(
                    name,
                    format!(
                        "static feature changes within series {} at row {}",
                        panel.label(s),
                        panel.order[pos]
                    ),
                ));
            }
        }
        exo_columns.push((name.clone(), values));
    }
    for name in &options.exogenous.known_future {
        exo_columns.push((name.clone(), panel.gather_f64(exogenous_values(df, name)?)));
    }
    // A relative column replaces its raw values: the level of a price says which product it
    // is (the lags know that), its ratio to the usual price says what a change does.
    check_relative(spec, options)?;
    for (name, values) in exo_columns.iter_mut() {
        if spec.relative.contains(name) {
            *values = relative_values(values, &raw_target, &panel.offsets);
            *name = relative_name(name);
        }
    }

    // Assemble the computed columns; the caller attaches keys and time (see `FeatureFrame`).
    let mut names: Vec<String> = Vec::with_capacity(n_features);
    names.extend(target_names);
    names.extend(past_names);
    let to_column = |name: &str, values: Vec<f64>, float32: bool| -> Column {
        if float32 {
            Float32Chunked::from_vec(name.into(), values.into_iter().map(|v| v as f32).collect())
                .into_column()
        } else {
            Float64Chunked::from_vec(name.into(), values).into_column()
        }
    };
    let mut out_columns: Vec<Column> = Vec::with_capacity(n_cols + 1);
    if transformed {
        if let Some(target) = columns.pop() {
            out_columns.push(to_column(&roles.target_col, target, false));
        }
    }
    for (name, values) in names.iter().zip(columns) {
        out_columns.push(to_column(name, values, options.float32));
    }
    for (name, values) in group_columns
        .drain(..)
        .chain(calendar_columns)
        .chain(exo_columns)
    {
        out_columns.push(to_column(&name, values, options.float32));
    }
    let mut reserved: Vec<&str> = roles.id_cols.iter().map(String::as_str).collect();
    reserved.push(&roles.time_col);
    if !transformed {
        reserved.push(&roles.target_col);
    }
    check_unique_names(&out_columns, &reserved)?;
    Ok(FeatureFrame {
        columns: DataFrame::new(n_rows, out_columns)?,
        order: (!panel.identity).then(|| panel.order.clone()),
    })
}

/// Every relative column must be a known-future one (its future values are given).
fn check_relative(spec: &FeatureSpec, options: &FeatureOptions) -> Result<()> {
    match spec
        .relative
        .iter()
        .find(|c| !options.exogenous.known_future.contains(c))
    {
        Some(name) => Err(CoreError::invalid_argument(
            "features.relative",
            format!("`{name}` is not a known-future column; declare it in known_future"),
        )),
        None => Ok(()),
    }
}

/// `price_rel`: the feature of a relative known-future column.
pub fn relative_name(column: &str) -> String {
    format!("{column}_rel")
}

/// A value over its series' median; NaN where the median is not a positive number (a series
/// without prices, or prices recorded as 0), which the boosters read as missing.
fn ratio(value: f64, median: f64) -> f64 {
    if median.is_finite() && median > 0.0 {
        value / median
    } else {
        f64::NAN
    }
}

/// Each series' median of `values` over its rows whose target is known: the history, never
/// the periods being forecast, so training, one-step and recursive features agree.
fn series_medians(values: &[f64], target: &[f64], offsets: &[usize]) -> Vec<f64> {
    offsets
        .windows(2)
        .map(|w| {
            let mut known: Vec<f64> = (w[0]..w[1])
                .filter(|&i| target[i].is_finite() && values[i].is_finite())
                .map(|i| values[i])
                .collect();
            if known.is_empty() {
                return f64::NAN;
            }
            known.sort_by(f64::total_cmp);
            let m = known.len() / 2;
            if known.len() % 2 == 1 {
                known[m]
            } else {
                (known[m - 1] + known[m]) / 2.0
            }
        })
        .collect()
}

/// A relative column's values, in panel order: each over its series' median.
fn relative_values(values: &[f64], target: &[f64], offsets: &[usize]) -> Vec<f64> {
    let medians = series_medians(values, target, offsets);
    offsets
        .windows(2)
        .zip(medians)
        .flat_map(|(w, m)| values[w[0]..w[1]].iter().map(move |&v| ratio(v, m)))
        .collect()
}

fn check_unique_names(columns: &[Column], reserved: &[&str]) -> Result<()> {
    let mut seen: std::collections::HashSet<&str> = reserved.iter().copied().collect();
    for c in columns {
        if !seen.insert(c.name().as_str()) {
            return Err(CoreError::invalid_argument(
                "features",
                format!(
                    "two outputs are named `{}`; rename the column or drop the duplicate feature",
                    c.name()
                ),
            ));
        }
    }
    Ok(())
}

/// Group-level rolling features: the raw target summed over the series of each group at each
/// period, rolled on the group's own grid, and read back at every member row.
fn group_features(
    df: &DataFrame,
    spec: &FeatureSpec,
    grid: &Grid,
    raw_target: &[f64],
) -> Result<Vec<(String, Vec<f64>)>> {
    let panel = &grid.panel;
    let mut out = Vec::new();
    for g in &spec.group_rolling {
        let group_values = panel.gather_f64(exogenous_values(df, &g.group_col)?);
        // Group code of each series (must be constant within the series).
        let mut series_group = Vec::with_capacity(panel.n_series());
        for s in 0..panel.n_series() {
            let r = panel.range(s);
            let code = group_values[r.start];
            if let Some(pos) = r.clone().find(|&p| group_values[p] != code) {
                return Err(CoreError::invalid_data(
                    &g.group_col,
                    format!(
                        "group column changes within series {} at row {}",
                        panel.label(s),
                        panel.order[pos]
                    ),
                ));
            }
            series_group.push(code);
        }
        // Sum per (group, time).
        let mut sums: HashMap<(u64, i64), f64> = HashMap::new();
        for (s, group) in series_group.iter().enumerate() {
            for pos in panel.range(s) {
                let v = raw_target[pos];
                let e = sums
                    .entry((group.to_bits(), panel.times[pos]))
                    .or_insert(0.0);
                if v.is_finite() {
                    *e += v;
                }
            }
        }
        let mut by_group: HashMap<u64, Vec<(i64, f64)>> = HashMap::new();
        for (&(code, t), &v) in &sums {
            by_group.entry(code).or_default().push((t, v));
        }
        let mut lookup: HashMap<(u64, i64), Vec<f64>> = HashMap::new();
        for (code, mut points) in by_group {
            points.sort_unstable_by_key(|p| p.0);
            let first = points[0].0;
            let len = grid
                .freq
                .steps_between(first, points[points.len() - 1].0, panel.axis)
                .map_or(points.len(), |k| k as usize + 1);
            let mut dense = vec![f64::NAN; len];
            let mut pos_of = Vec::with_capacity(points.len());
            for &(t, v) in &points {
                let p = grid.freq.steps_between(first, t, panel.axis).unwrap_or(0) as usize;
                dense[p] = v;
                pos_of.push(p);
            }
            let mut bufs: Vec<Vec<f64>> = g.stats.iter().map(|_| vec![f64::NAN; len]).collect();
            let mut outs: Vec<&mut [f64]> = bufs.iter_mut().map(|b| b.as_mut_slice()).collect();
            kernels::rolling(&dense, g.window, g.lag, g.min_samples, &g.stats, &mut outs);
            for (&(t, _), &p) in points.iter().zip(&pos_of) {
                lookup.insert((code, t), bufs.iter().map(|b| b[p]).collect());
            }
        }
        for (k, name) in g.feature_names().into_iter().enumerate() {
            let values = (0..panel.n_series())
                .flat_map(|s| panel.range(s).map(move |pos| (s, pos)))
                .map(|(s, pos)| lookup[&(series_group[s].to_bits(), panel.times[pos])][k])
                .collect();
            out.push((name, values));
        }
    }
    Ok(out)
}

/// Every target-derived feature of `spec` at grid position `p` of `y` (transformed target),
/// computed directly from the values it reads, in `target_feature_names` order.
fn target_features_at(y: &[f64], p: usize, spec: &FeatureSpec, out: &mut Vec<f64>) {
    window_features_at(y, p, spec, out);
    let mut running = RunningStats::new(y, spec);
    running.advance(spec, y, p);
    running.values(spec, out);
}

/// Lag, rolling and seasonal rolling features at position `p` of `y`.
fn window_features_at(y: &[f64], p: usize, spec: &FeatureSpec, out: &mut Vec<f64>) {
    let finite = |range: &mut dyn Iterator<Item = usize>| -> Vec<f64> {
        range.map(|i| y[i]).filter(|v| v.is_finite()).collect()
    };
    for &l in &spec.lags {
        out.push(if p >= l { y[p - l] } else { f64::NAN });
    }
    for r in &spec.rolling {
        let mut values = match p.checked_sub(r.lag) {
            Some(q) => finite(&mut ((q + 1).saturating_sub(r.window)..=q)),
            None => vec![],
        };
        for &stat in &r.stats {
            let enough = p >= r.lag && values.len() >= r.min_samples;
            out.push(if enough {
                kernels::stat_of(&mut values, stat)
            } else {
                f64::NAN
            });
        }
    }
    for r in &spec.seasonal_rolling {
        let mut values = match p.checked_sub(r.lag) {
            Some(q) => finite(&mut (0..r.window).map_while(|k| q.checked_sub(k * r.season_length))),
            None => vec![],
        };
        for &stat in &r.stats {
            let enough = p >= r.lag && values.len() >= r.min_samples;
            out.push(if enough {
                kernels::stat_of(&mut values, stat)
            } else {
                f64::NAN
            });
        }
    }
}

/// Expanding and EWM features of one series at the period after its history, kept as running
/// sums (the batch kernels' own) so a step adds one value instead of re-reading the history.
#[derive(Debug, Clone)]
struct RunningStats {
    /// One accumulator per `spec.expanding` and `spec.ewm` entry, each with the count of
    /// history values it has read.
    expanding: Vec<(kernels::ExpandingAccumulator, usize)>,
    ewm: Vec<(kernels::EwmAccumulator, usize)>,
}

impl RunningStats {
    fn new(y: &[f64], spec: &FeatureSpec) -> Self {
        Self {
            expanding: spec
                .expanding
                .iter()
                .map(|_| (kernels::ExpandingAccumulator::for_series(y), 0))
                .collect(),
            ewm: spec
                .ewm
                .iter()
                .map(|e| (kernels::EwmAccumulator::new(e.alpha), 0))
                .collect(),
        }
    }

    /// Reads `y` up to the values the features at position `p` see (`p` may be `y.len()`, the
    /// period after the history): each one's history lagged by its `lag`.
    fn advance(&mut self, spec: &FeatureSpec, y: &[f64], p: usize) {
        let upto = |lag: usize| (p + 1).saturating_sub(lag).min(y.len());
        for ((acc, read), e) in self.expanding.iter_mut().zip(&spec.expanding) {
            feed(y, upto(e.lag), read, |v| acc.add(v));
        }
        for ((acc, read), e) in self.ewm.iter_mut().zip(&spec.ewm) {
            feed(y, upto(e.lag), read, |v| acc.add(v));
        }
    }

    fn values(&self, spec: &FeatureSpec, out: &mut Vec<f64>) {
        for ((acc, _), e) in self.expanding.iter().zip(&spec.expanding) {
            out.extend(e.stats.iter().map(|&stat| acc.value(stat)));
        }
        out.extend(self.ewm.iter().map(|(acc, _)| acc.value()));
    }
}

/// The features of the last period of every series only: what one step of a recursive
/// forecast needs, at a cost that does not grow with the number of features times rows.
/// Rows come out one per series, in panel order; `order` holds each one's input row.
pub fn build_last_features(
    df: &DataFrame,
    spec: &FeatureSpec,
    options: &FeatureOptions,
) -> Result<FeatureFrame> {
    let roles = &options.roles;
    let grid = Grid::build(df, roles, options.freq)?;
    let panel = &grid.panel;
    let n_series = panel.n_series();
    let raw_target = panel.gather_f64(numeric_values(column(df, &roles.target_col)?)?);
    let past_lags = spec.past_lags();
    let past_values: Vec<(String, Vec<f64>)> = options
        .exogenous
        .past_only
        .iter()
        .map(|c| Ok((c.clone(), panel.gather_f64(exogenous_values(df, c)?))))
        .collect::<Result<_>>()?;
    let last: Vec<usize> = (0..n_series).map(|s| panel.offsets[s + 1] - 1).collect();

    let rows: Vec<(f64, Vec<f64>)> = (0..n_series)
        .into_par_iter()
        .map(|s| -> Result<(f64, Vec<f64>)> {
            let mut buf = Vec::new();
            let mut y = grid.dense(s, &raw_target, &mut buf).to_vec();
            transform_series(
                &mut y,
                &spec.target_transforms,
                &|| panel.label(s),
                &roles.target_col,
            )?;
            let p = y.len() - 1;
            let mut values = Vec::new();
            target_features_at(&y, p, spec, &mut values);
            for (_, x) in &past_values {
                let mut exo_buf = Vec::new();
                let x = grid.dense(s, x, &mut exo_buf);
                for &l in past_lags {
                    values.push(if p >= l { x[p - l] } else { f64::NAN });
                }
            }
            Ok((y[p], values))
        })
        .collect::<Result<_>>()?;

    let mut names = target_feature_names(spec);
    names.extend(spec.past_feature_names(past_values.iter().map(|(c, _)| c.as_str())));
    let mut columns: Vec<(String, Vec<f64>)> = names
        .into_iter()
        .enumerate()
        .map(|(f, n)| (n, rows.iter().map(|r| r.1[f]).collect()))
        .collect();
    for (name, values) in group_features(df, spec, &grid, &raw_target)? {
        columns.push((name, last.iter().map(|&pos| values[pos]).collect()));
    }
    let holidays = holiday_calendar(options, panel);
    for &f in &spec.calendar {
        columns.push((
            f.name().to_owned(),
            last.iter()
                .map(|&pos| calendar_value(f, panel.axis, panel.times[pos], &holidays))
                .collect(),
        ));
    }
    check_relative(spec, options)?;
    for name in options
        .exogenous
        .static_features
        .iter()
        .chain(&options.exogenous.known_future)
    {
        let values = panel.gather_f64(exogenous_values(df, name)?);
        let (name, values) = if spec.relative.contains(name) {
            let ratios = relative_values(&values, &raw_target, &panel.offsets);
            (relative_name(name), ratios)
        } else {
            (name.clone(), values)
        };
        columns.push((name, last.iter().map(|&pos| values[pos]).collect()));
    }
    let mut out_columns = Vec::with_capacity(columns.len() + 1);
    if !spec.target_transforms.is_empty() {
        out_columns.push(
            Float64Chunked::from_vec(
                roles.target_col.as_str().into(),
                rows.iter().map(|r| r.0).collect(),
            )
            .into_column(),
        );
    }
    for (name, values) in columns {
        out_columns.push(Float64Chunked::from_vec(name.as_str().into(), values).into_column());
    }
    let mut reserved: Vec<&str> = roles.id_cols.iter().map(String::as_str).collect();
    reserved.push(&roles.time_col);
    if spec.target_transforms.is_empty() {
        reserved.push(&roles.target_col);
    }
    check_unique_names(&out_columns, &reserved)?;
    Ok(FeatureFrame {
        columns: DataFrame::new(n_series, out_columns)?,
        order: Some(last.iter().map(|&pos| panel.order[pos]).collect()),
    })
}

/// Gives `add` the values of `y` from `*read` up to `upto` not given yet.
fn feed(y: &[f64], upto: usize, read: &mut usize, mut add: impl FnMut(f64)) {
    for &v in y.get(*read..upto).unwrap_or_default() {
        add(v);
    }
    *read = (*read).max(upto);
}

/// Series count from which a recursive step computes its features on the thread pool.
const PARALLEL_STEP_SERIES: usize = 4096;

/// One series' transformed target history and the running statistics of its next period.
#[derive(Debug, Clone)]
struct TransformedHistory {
    y: Vec<f64>,
    running: RunningStats,
}

/// The state of a recursive forecast: every series' history on its grid, extended one period
/// per step with the predictions, so each step costs one pass over the histories instead of
/// re-reading the frame.
#[derive(Debug, Clone)]
pub struct StepState {
    spec: FeatureSpec,
    axis: TimeAxis,
    freq: Frequency,
    holidays: HolidayCalendar,
    target_col: String,
    /// Raw target history of each series, one value per period.
    targets: Vec<Vec<f64>>,
    /// The same histories after the target transforms with their running statistics, kept up
    /// to date when every transform acts value by value (log1p); `None` means transform the raw
    /// history at each step.
    transformed: Option<Vec<TransformedHistory>>,
    /// Past-only covariates per series, NaN after the origin.
    past: Vec<(String, Vec<Vec<f64>>)>,
    /// Static values of each series (last row).
    statics: Vec<(String, Vec<f64>)>,
    /// Time of each series' last period.
    last_time: Vec<i64>,
    /// Input row of each series' last row, to read its keys.
    pub last_rows: Vec<IdxSize>,
    pub known_future: Vec<String>,
    /// Per relative column: its place in `known_future` and each series' median in the history.
    relative: Vec<(usize, Vec<f64>)>,
}

impl StepState {
    /// Reads the histories; refuses group features, which need every series at every step.
    pub fn new(df: &DataFrame, spec: &FeatureSpec, options: &FeatureOptions) -> Result<Self> {
        if !spec.group_rolling.is_empty() {
            return Err(CoreError::invalid_argument(
                "features.group_rolling",
                "step-by-step updates do not support group features yet",
            ));
        }
        let roles = &options.roles;
        let grid = Grid::build(df, roles, options.freq)?;
        let panel = &grid.panel;
        let n = panel.n_series();
        let raw = panel.gather_f64(numeric_values(column(df, &roles.target_col)?)?);
        let mut buf = Vec::new();
        let targets: Vec<Vec<f64>> = (0..n)
            .map(|s| grid.dense(s, &raw, &mut buf).to_vec())
            .collect();
        let elementwise = matches!(
            spec.target_transforms.as_slice(),
            [] | [TargetTransform::Log1p]
        );
        let transformed = if elementwise {
            let histories = targets
                .iter()
                .enumerate()
                .map(|(s, raw)| {
                    let mut y = raw.clone();
                    transform_series(
                        &mut y,
                        &spec.target_transforms,
                        &|| panel.label(s),
                        &roles.target_col,
                    )?;
                    let mut running = RunningStats::new(&y, spec);
                    running.advance(spec, &y, y.len());
                    Ok(TransformedHistory { y, running })
                })
                .collect::<Result<_>>()?;
            Some(histories)
        } else {
            None
        };
        let past = options
            .exogenous
            .past_only
            .iter()
            .map(|c| {
                let values = panel.gather_f64(exogenous_values(df, c)?);
                Ok((
                    c.clone(),
                    (0..n)
                        .map(|s| grid.dense(s, &values, &mut Vec::new()).to_vec())
                        .collect(),
                ))
            })
            .collect::<Result<_>>()?;
        let last: Vec<usize> = (0..n).map(|s| panel.offsets[s + 1] - 1).collect();
        let statics = options
            .exogenous
            .static_features
            .iter()
            .map(|c| {
                let values = panel.gather_f64(exogenous_values(df, c)?);
                Ok((c.clone(), last.iter().map(|&p| values[p]).collect()))
            })
            .collect::<Result<_>>()?;
        check_relative(spec, options)?;
        let known_future = &options.exogenous.known_future;
        let relative = spec
            .relative
            .iter()
            .map(|c| {
                let at = known_future.iter().position(|k| k == c).unwrap_or_default();
                let values = panel.gather_f64(exogenous_values(df, c)?);
                Ok((at, series_medians(&values, &raw, &panel.offsets)))
            })
            .collect::<Result<_>>()?;
        let holidays = holiday_calendar(options, panel);
        Ok(Self {
            spec: spec.clone(),
            axis: panel.axis,
            freq: grid.freq,
            holidays,
            target_col: roles.target_col.clone(),
            targets,
            transformed,
            past,
            statics,
            last_time: last.iter().map(|&p| panel.times[p]).collect(),
            last_rows: last.iter().map(|&p| panel.order[p]).collect(),
            known_future: options.exogenous.known_future.clone(),
            relative,
        })
    }

    pub fn n_series(&self) -> usize {
        self.targets.len()
    }

    /// Time of the next period of every series.
    pub fn next_times(&self) -> Vec<i64> {
        self.last_time
            .iter()
            .map(|&t| self.freq.advance(t, 1, self.axis))
            .collect()
    }

    /// Features of the next period of every series (one row per series), with the known-future
    /// values of that period given per column in series order. The columns are named and
    /// ordered as `build_features` names them.
    pub fn next_features(&self, known_future: &[Vec<f64>]) -> Result<DataFrame> {
        let n = self.n_series();
        if known_future.len() != self.known_future.len()
            || known_future.iter().any(|v| v.len() != n)
        {
            return Err(CoreError::invalid_argument(
                "future",
                format!(
                    "need {} known-future columns of {n} values",
                    self.known_future.len()
                ),
            ));
        }
        let past_lags = self.spec.past_lags();
        let row = |s: usize| -> Result<Vec<f64>> {
            // Every feature reads periods before the next one, so the history itself serves.
            let p = self.targets[s].len();
            let mut values = Vec::new();
            match &self.transformed {
                Some(all) => {
                    window_features_at(&all[s].y, p, &self.spec, &mut values);
                    all[s].running.values(&self.spec, &mut values);
                }
                None => {
                    let mut y = self.targets[s].clone();
                    transform_series(
                        &mut y,
                        &self.spec.target_transforms,
                        &|| format!("#{s}"),
                        &self.target_col,
                    )?;
                    target_features_at(&y, p, &self.spec, &mut values);
                }
            }
            for (_, series) in &self.past {
                for &l in past_lags {
                    let x = &series[s];
                    values.push(if p >= l && p - l < x.len() {
                        x[p - l]
                    } else {
                        f64::NAN
                    });
                }
            }
            Ok(values)
        };
        // A step of a few thousand series is quicker on this thread than handed to the pool,
        // whose wake-ups compete with the boosters' spinning OpenMP threads between steps.
        let rows: Vec<Vec<f64>> = if n < PARALLEL_STEP_SERIES {
            (0..n).map(row).collect::<Result<_>>()?
        } else {
            (0..n).into_par_iter().map(row).collect::<Result<_>>()?
        };
        let mut names = target_feature_names(&self.spec);
        names.extend(
            self.spec
                .past_feature_names(self.past.iter().map(|(c, _)| c.as_str())),
        );
        let mut columns: Vec<Column> = names
            .iter()
            .enumerate()
            .map(|(f, name)| {
                Float64Chunked::from_vec(name.as_str().into(), rows.iter().map(|r| r[f]).collect())
                    .into_column()
            })
            .collect();
        let times = self.next_times();
        for &f in &self.spec.calendar {
            let values = times
                .iter()
                .map(|&t| calendar_value(f, self.axis, t, &self.holidays))
                .collect();
            columns.push(Float64Chunked::from_vec(f.name().into(), values).into_column());
        }
        for (name, values) in &self.statics {
            columns
                .push(Float64Chunked::from_vec(name.as_str().into(), values.clone()).into_column());
        }
        for (at, (name, values)) in self.known_future.iter().zip(known_future).enumerate() {
            let column = match self.relative.iter().find(|(r, _)| *r == at) {
                Some((_, medians)) => {
                    let ratios = values
                        .iter()
                        .zip(medians)
                        .map(|(&v, &m)| ratio(v, m))
                        .collect();
                    Float64Chunked::from_vec(relative_name(name).as_str().into(), ratios)
                }
                None => Float64Chunked::from_vec(name.as_str().into(), values.clone()),
            };
            columns.push(column.into_column());
        }
        Ok(DataFrame::new(n, columns)?)
    }

    /// Appends the next period's (raw-scale) value of every series.
    pub fn push(&mut self, values: &[f64]) -> Result<()> {
        if values.len() != self.n_series() {
            return Err(CoreError::invalid_argument(
                "values",
                format!("{} values for {} series", values.len(), self.n_series()),
            ));
        }
        for (history, &v) in self.targets.iter_mut().zip(values) {
            history.push(v);
        }
        if let Some(all) = self.transformed.as_mut() {
            for (history, &v) in all.iter_mut().zip(values) {
                // Only log1p is kept incrementally (see `new`).
                history.y.push(if self.spec.target_transforms.is_empty() {
                    v
                } else {
                    v.ln_1p()
                });
                history
                    .running
                    .advance(&self.spec, &history.y, history.y.len());
            }
        }
        for (_, series) in self.past.iter_mut() {
            for history in series.iter_mut() {
                history.push(f64::NAN);
            }
        }
        let next = self.next_times();
        self.last_time = next;
        Ok(())
    }
}
