//! The feature engine: target-derived, calendar and exogenous features for a long panel, built
//! per series on its regular period grid (missing periods are NaN, never skipped over), in
//! parallel over blocks of series, into one output column per feature.

mod buffers;
pub mod kernels;
pub mod spec;
mod target;

use crate::calendar::HolidayCalendar;
use crate::error::{CoreError, Result};
use crate::freq::{Frequency, TimeAxis};
use crate::grid::{series_span_error, span_message, MAX_SERIES_PERIODS};
use crate::panel::{column, numeric_values, ColumnRoles, Panel};
use chrono::{Datelike, Timelike};
use polars::prelude::*;
use rayon::prelude::*;
use spec::{CalendarFeature, FeatureSpec};
use std::collections::HashMap;
use std::f64::consts::TAU;
use target::transform_series;

pub use spec::target_feature_names;
use target::TargetInverter;
pub use target::{smeared, smearing_factors};

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
            let length = positions[r.end - 1] as usize + 1;
            if length > MAX_SERIES_PERIODS {
                return Err(series_span_error(&panel, s, length, freq, &roles.time_col));
            }
            lengths.push(length);
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
    let raw_target = panel.gather(numeric_values(column(df, &roles.target_col)?)?);

    let target_names = target_feature_names(spec);
    let past_lags = spec.past_lags();
    let past_values: Vec<(String, Vec<f64>)> = options
        .exogenous
        .past_only
        .iter()
        .map(|c| Ok((c.clone(), panel.gather(exogenous_values(df, c)?))))
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
        let values = panel.gather(exogenous_values(df, name)?);
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
        exo_columns.push((name.clone(), panel.gather(exogenous_values(df, name)?)));
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
        let group_values = panel.gather(exogenous_values(df, &g.group_col)?);
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
        // Sum per (group, time), with the first series seen there (for messages).
        let mut sums: HashMap<(u64, i64), (f64, usize)> = HashMap::new();
        for (s, group) in series_group.iter().enumerate() {
            for pos in panel.range(s) {
                let v = raw_target[pos];
                let e = sums
                    .entry((group.to_bits(), panel.times[pos]))
                    .or_insert((0.0, s));
                if v.is_finite() {
                    e.0 += v;
                }
            }
        }
        let mut by_group: HashMap<u64, Vec<(i64, f64, usize)>> = HashMap::new();
        for (&(code, t), &(v, s)) in &sums {
            by_group.entry(code).or_default().push((t, v, s));
        }
        // A group is named by a member series: the forecaster hands its values in encoded.
        let group_of = |s: usize| format!("of the `{}` group of {}", g.group_col, panel.label(s));
        let mut lookup: HashMap<(u64, i64), Vec<f64>> = HashMap::new();
        for (code, mut points) in by_group {
            points.sort_unstable_by_key(|p| p.0);
            let (first, _, first_series) = points[0];
            let mut pos_of = Vec::with_capacity(points.len());
            for &(t, _, s) in &points {
                let step = grid
                    .freq
                    .steps_between(first, t, panel.axis)
                    .and_then(|k| usize::try_from(k).ok())
                    .ok_or_else(|| {
                        CoreError::invalid_data(
                            &g.group_col,
                            format!(
                                "the series {} are not on one {} grid: series {} has {}, not \
                                 a whole number of periods after series {} starts at {}",
                                group_of(first_series),
                                grid.freq,
                                panel.label(s),
                                panel.axis.format(t),
                                panel.label(first_series),
                                panel.axis.format(first)
                            ),
                        )
                    })?;
                pos_of.push(step);
            }
            let len = pos_of.last().map_or(0, |&p| p + 1);
            if len > MAX_SERIES_PERIODS && len > points.len() {
                let axis = panel.axis;
                return Err(CoreError::invalid_data(
                    &g.group_col,
                    span_message(
                        &group_of(first_series),
                        len,
                        grid.freq,
                        &axis.format(first),
                        &axis.format(points[points.len() - 1].0),
                    ),
                ));
            }
            let mut dense = vec![f64::NAN; len];
            for (&(_, v, _), &p) in points.iter().zip(&pos_of) {
                dense[p] = v;
            }
            let mut bufs: Vec<Vec<f64>> = g.stats.iter().map(|_| vec![f64::NAN; len]).collect();
            let mut outs: Vec<&mut [f64]> = bufs.iter_mut().map(|b| b.as_mut_slice()).collect();
            kernels::rolling(&dense, g.window, g.lag, g.min_samples, &g.stats, &mut outs);
            for (&(t, _, _), &p) in points.iter().zip(&pos_of) {
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
    let raw_target = panel.gather(numeric_values(column(df, &roles.target_col)?)?);
    let past_lags = spec.past_lags();
    let past_values: Vec<(String, Vec<f64>)> = options
        .exogenous
        .past_only
        .iter()
        .map(|c| Ok((c.clone(), panel.gather(exogenous_values(df, c)?))))
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
        let values = panel.gather(exogenous_values(df, name)?);
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

/// The state of a recursive forecast: every series' history on its grid at every stage of the
/// target transforms, extended one period per step with the predictions, so each step costs one
/// pass over the histories instead of re-reading the frame.
#[derive(Debug, Clone)]
pub struct StepState {
    spec: FeatureSpec,
    axis: TimeAxis,
    freq: Frequency,
    holidays: HolidayCalendar,
    /// Each series' target history, undoing the transforms on the predictions pushed.
    target: TargetInverter,
    /// Running statistics of each series' transformed history at its next period.
    running: Vec<RunningStats>,
    /// Past-only covariates per series, NaN after the origin.
    past: Vec<(String, Vec<Vec<f64>>)>,
    /// Static values of each series (last row).
    statics: Vec<(String, Vec<f64>)>,
    /// Time of each series' last period.
    last_time: Vec<i64>,
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
        let raw = panel.gather(numeric_values(column(df, &roles.target_col)?)?);
        let target = TargetInverter::on_grid(&grid, &raw, spec, &roles.target_col)?;
        let running = (0..n)
            .map(|s| {
                let y = target.series(s).transformed();
                let mut running = RunningStats::new(y, spec);
                running.advance(spec, y, y.len());
                running
            })
            .collect();
        let past = options
            .exogenous
            .past_only
            .iter()
            .map(|c| {
                let values = panel.gather(exogenous_values(df, c)?);
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
                let values = panel.gather(exogenous_values(df, c)?);
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
                let values = panel.gather(exogenous_values(df, c)?);
                Ok((at, series_medians(&values, &raw, &panel.offsets)))
            })
            .collect::<Result<_>>()?;
        let holidays = holiday_calendar(options, panel);
        Ok(Self {
            spec: spec.clone(),
            axis: panel.axis,
            freq: grid.freq,
            holidays,
            target,
            running,
            past,
            statics,
            last_time: last.iter().map(|&p| panel.times[p]).collect(),
            known_future: options.exogenous.known_future.clone(),
            relative,
        })
    }

    pub fn n_series(&self) -> usize {
        self.target.n_series()
    }

    /// Input row of each series' last row, in the order features come out.
    pub fn last_rows(&self) -> &[IdxSize] {
        self.target.last_rows()
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
        let row = |s: usize| -> Vec<f64> {
            // Every feature reads periods before the next one, so the history itself serves.
            let history = self.target.series(s);
            let p = history.len();
            let mut values = Vec::new();
            window_features_at(history.transformed(), p, &self.spec, &mut values);
            self.running[s].values(&self.spec, &mut values);
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
            values
        };
        // A step of a few thousand series is quicker on this thread than handed to the pool,
        // whose wake-ups compete with the boosters' spinning OpenMP threads between steps.
        let rows: Vec<Vec<f64>> = if n < PARALLEL_STEP_SERIES {
            (0..n).map(row).collect()
        } else {
            (0..n).into_par_iter().map(row).collect()
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

    /// Appends the next period's predictions (on the transformed scale, one per series) to
    /// the histories and returns them on the target's scale (see `TargetInverter`).
    pub fn push_predictions(&mut self, values: &[f64]) -> Result<Vec<f64>> {
        let raw = self.target.push_predictions(values)?;
        for (s, running) in self.running.iter_mut().enumerate() {
            let y = self.target.series(s).transformed();
            running.advance(&self.spec, y, y.len());
        }
        for (_, series) in self.past.iter_mut() {
            for history in series.iter_mut() {
                history.push(f64::NAN);
            }
        }
        self.last_time = self.next_times();
        Ok(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{dated_frame, epoch, frame};

    const NAN: f64 = f64::NAN;

    #[test]
    fn a_part_is_checked_alone_under_its_own_name() {
        let rolling = r#"{"window": 3, "stats": ["mean"], "lag": 1}"#;
        assert!(FeatureSpec::check_part("rolling", rolling, "Rolling").is_ok());
        for (part, entry, field) in [
            (
                "rolling",
                r#"{"window": 0, "stats": ["mean"], "lag": 1}"#,
                "Rolling.window",
            ),
            (
                "rolling",
                r#"{"window": 3, "stats": ["avg"], "lag": 1}"#,
                "Rolling.stats[0]",
            ),
            ("ewm", r#"{"alpha": 2.0, "lag": 1}"#, "EWM.alpha"),
            (
                "seasonal_rolling",
                r#"{"season_length": 0, "window": 2, "stats": ["mean"], "lag": 1}"#,
                "SeasonalRolling.season_length",
            ),
            (
                "expanding",
                r#"{"stats": ["median"], "lag": 1}"#,
                "Expanding.stats",
            ),
            (
                "rolling",
                r#"{"window": "3", "stats": ["mean"], "lag": 1}"#,
                "Rolling",
            ),
        ] {
            let class = field.split('.').next().unwrap();
            match FeatureSpec::check_part(part, entry, class) {
                Err(CoreError::InvalidArgument { name, .. }) => assert_eq!(name, field, "{entry}"),
                other => panic!("{entry}: expected an invalid argument, got {other:?}"),
            }
        }
        assert!(FeatureSpec::check_part("lags", "1", "Lag").is_err());
    }

    fn with(mut df: DataFrame, column: Series) -> DataFrame {
        df.with_column(column.into_column()).unwrap();
        df
    }

    fn some(values: &[f64]) -> Vec<Option<f64>> {
        values.iter().copied().map(Some).collect()
    }

    fn options() -> FeatureOptions {
        FeatureOptions {
            roles: ColumnRoles::new(vec!["store".into()], "date", "y").unwrap(),
            exogenous: ExogenousRoles::default(),
            freq: Some(Frequency::Days(1)),
            holidays: Some(vec![]),
            float32: false,
        }
    }

    fn spec(json: &str) -> FeatureSpec {
        FeatureSpec::from_json(json).unwrap()
    }

    fn names(df: &DataFrame) -> Vec<String> {
        df.get_column_names()
            .iter()
            .map(|c| c.to_string())
            .collect()
    }

    fn values(df: &DataFrame, name: &str) -> Vec<f64> {
        df.column(name)
            .unwrap_or_else(|_| panic!("no column {name} in {:?}", names(df)))
            .cast(&DataType::Float64)
            .unwrap()
            .f64()
            .unwrap()
            .iter()
            .map(|v| v.unwrap_or(NAN))
            .collect()
    }

    fn same(a: f64, b: f64) -> bool {
        (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    fn assert_close(got: &[f64], want: &[f64], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: {got:?} vs {want:?}");
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!(same(g, w), "{what}[{i}]: got {g}, want {w} ({got:?})");
        }
    }

    #[test]
    fn lags_follow_the_period_grid_not_the_previous_row() {
        // A misses 2023-01-05 (offset 3); B is complete.
        let df = frame(
            &["A", "A", "A", "A", "A", "B", "B", "B"],
            &[0, 1, 2, 4, 5, 0, 1, 2],
            &some(&[10.0, 20.0, 30.0, 50.0, 60.0, 1.0, 2.0, 3.0]),
        );
        let out = build_features(&df, &spec(r#"{"lags": [1, 2]}"#), &options()).unwrap();
        assert_eq!(names(&out.columns), ["lag1", "lag2"]);
        assert!(out.order.is_none(), "sorted input keeps its row order");
        assert_close(
            &values(&out.columns, "lag1"),
            &[NAN, 10.0, 20.0, NAN, 50.0, NAN, 1.0, 2.0],
            "lag1",
        );
        assert_close(
            &values(&out.columns, "lag2"),
            &[NAN, NAN, 10.0, 30.0, NAN, NAN, NAN, 1.0],
            "lag2",
        );
        // With the frequency inferred (daily) the result is the same.
        let inferred = FeatureOptions {
            freq: None,
            ..options()
        };
        let again = build_features(&df, &spec(r#"{"lags": [1, 2]}"#), &inferred).unwrap();
        assert!(out.columns.equals_missing(&again.columns));
        // Read as weekly data, no row has a value one or two weeks earlier.
        let weekly = FeatureOptions {
            freq: Some(Frequency::Days(7)),
            ..options()
        };
        let err = build_features(&df, &spec(r#"{"lags": [1]}"#), &weekly).unwrap_err();
        assert!(
            matches!(&err, CoreError::InvalidData { column, reason }
                if column == "date" && reason.contains("off its 1w grid")),
            "{err}"
        );
    }

    #[test]
    fn rolling_statistics_hand_computed() {
        let df = frame(
            &["A"; 5],
            &[0, 1, 2, 3, 4],
            &some(&[1.0, 2.0, 4.0, 8.0, 16.0]),
        );
        let s = spec(
            r#"{"rolling": [
                {"window": 3, "lag": 1, "stats": ["mean", "std"]},
                {"window": 2, "lag": 2, "stats": ["max", "median", "sum"], "min_samples": 1}
            ]}"#,
        );
        let out = build_features(&df, &s, &options()).unwrap().columns;
        assert_eq!(
            names(&out),
            [
                "rolling_mean_lag1_window3",
                "rolling_std_lag1_window3",
                "rolling_max_lag2_window2",
                "rolling_median_lag2_window2",
                "rolling_sum_lag2_window2",
            ]
        );
        // Window of 3 ending one period back, all 3 required: {1,2,4} then {2,4,8}.
        assert_close(
            &values(&out, "rolling_mean_lag1_window3"),
            &[NAN, NAN, NAN, 7.0 / 3.0, 14.0 / 3.0],
            "mean",
        );
        assert_close(
            &values(&out, "rolling_std_lag1_window3"),
            &[NAN, NAN, NAN, (7.0f64 / 3.0).sqrt(), (28.0f64 / 3.0).sqrt()],
            "std (ddof 1)",
        );
        // Window of 2 ending two periods back, one value enough: {1}, {1,2}, {2,4}.
        assert_close(
            &values(&out, "rolling_max_lag2_window2"),
            &[NAN, NAN, 1.0, 2.0, 4.0],
            "max",
        );
        assert_close(
            &values(&out, "rolling_median_lag2_window2"),
            &[NAN, NAN, 1.0, 1.5, 3.0],
            "median",
        );
        assert_close(
            &values(&out, "rolling_sum_lag2_window2"),
            &[NAN, NAN, 1.0, 3.0, 6.0],
            "sum",
        );

        // A missing period counts as a window slot but not as a sample: grid [1, 2, _, 8, 16].
        let gap = frame(&["A"; 4], &[0, 1, 3, 4], &some(&[1.0, 2.0, 8.0, 16.0]));
        let s = spec(
            r#"{"rolling": [{"window": 3, "lag": 1, "stats": ["mean", "min"], "min_samples": 2}]}"#,
        );
        let out = build_features(&gap, &s, &options()).unwrap().columns;
        // Rows on 01-03 ({1}: too few), 01-05 ({1, 2, _}), 01-06 ({2, _, 8}).
        assert_close(
            &values(&out, "rolling_mean_lag1_window3"),
            &[NAN, NAN, 1.5, 5.0],
            "mean over a gap",
        );
        assert_close(
            &values(&out, "rolling_min_lag1_window3"),
            &[NAN, NAN, 1.0, 2.0],
            "min over a gap",
        );
    }

    #[test]
    fn seasonal_expanding_and_ewm_hand_computed() {
        let df = frame(
            &["A"; 6],
            &[0, 1, 2, 3, 4, 5],
            &some(&[2.0, 4.0, 6.0, 8.0, 10.0, 12.0]),
        );
        let s = spec(
            r#"{"seasonal_rolling": [{"season_length": 2, "window": 2, "lag": 1, "stats": ["mean"]}],
                "expanding": [{"stats": ["mean", "std", "min", "max"], "lag": 1},
                              {"stats": ["sum"], "lag": 2}],
                "ewm": [{"alpha": 0.5, "lag": 1}]}"#,
        );
        let out = build_features(&df, &s, &options()).unwrap().columns;
        assert_eq!(
            names(&out),
            [
                "seasonal_rolling_mean_lag1_season2_window2",
                "expanding_mean_lag1",
                "expanding_std_lag1",
                "expanding_min_lag1",
                "expanding_max_lag1",
                "expanding_sum_lag2",
                "ewm_mean_lag1_alpha0.5",
            ]
        );
        // Row p averages y[p-1] and y[p-3]; both are needed.
        assert_close(
            &values(&out, "seasonal_rolling_mean_lag1_season2_window2"),
            &[NAN, NAN, NAN, 4.0, 6.0, 8.0],
            "seasonal mean",
        );
        assert_close(
            &values(&out, "expanding_mean_lag1"),
            &[NAN, 2.0, 3.0, 4.0, 5.0, 6.0],
            "expanding mean",
        );
        // std of {2,4} = sqrt(2), {2,4,6} = 2, {2,4,6,8} = sqrt(20/3), {2..10} = sqrt(10).
        assert_close(
            &values(&out, "expanding_std_lag1"),
            &[
                NAN,
                NAN,
                2f64.sqrt(),
                2.0,
                (20.0f64 / 3.0).sqrt(),
                10f64.sqrt(),
            ],
            "expanding std",
        );
        assert_close(
            &values(&out, "expanding_min_lag1"),
            &[NAN, 2.0, 2.0, 2.0, 2.0, 2.0],
            "expanding min",
        );
        assert_close(
            &values(&out, "expanding_max_lag1"),
            &[NAN, 2.0, 4.0, 6.0, 8.0, 10.0],
            "expanding max",
        );
        assert_close(
            &values(&out, "expanding_sum_lag2"),
            &[NAN, NAN, 2.0, 6.0, 12.0, 20.0],
            "expanding sum",
        );
        // adjust=False: m = y0, then m = (m + y) / 2.
        assert_close(
            &values(&out, "ewm_mean_lag1_alpha0.5"),
            &[NAN, 2.0, 3.0, 4.5, 6.25, 8.125],
            "ewm",
        );
    }

    /// A spec reading every kind of target window.
    const RICH: &str = r#"{
        "lags": [1, 3],
        "rolling": [{"window": 3, "lag": 1, "stats": ["mean", "std", "max"], "min_samples": 1}],
        "seasonal_rolling": [{"season_length": 2, "window": 2, "lag": 1, "stats": ["mean", "quantile(0.25)"], "min_samples": 1}],
        "expanding": [{"stats": ["mean", "std", "min"], "lag": 1}],
        "ewm": [{"alpha": 0.3, "lag": 1}]
    }"#;

    #[test]
    fn features_of_a_row_never_read_its_own_or_later_targets() {
        // A has a missing period (offset 4); B is complete.
        let stores = [["A"; 8], ["B"; 8]].concat();
        let offsets = [[0, 1, 2, 3, 5, 6, 7, 8], [0, 1, 2, 3, 4, 5, 6, 7]].concat();
        let y = [
            3.0, 5.0, 4.0, 6.0, 8.0, 7.0, 9.0, 11.0, 20.0, 22.0, 21.0, 25.0, 24.0, 26.0, 27.0, 30.0,
        ];
        for transforms in [r#"[]"#, r#"["log1p"]"#, r#"["log1p", "diff"]"#] {
            let s = spec(&RICH.replace(
                "\"lags\"",
                &format!("\"target_transforms\": {transforms}, \"lags\""),
            ));
            let feature_names = target_feature_names(&s);
            let base = build_features(&frame(&stores, &offsets, &some(&y)), &s, &options())
                .unwrap()
                .columns;
            for k in 0..8 {
                // Change A's target at its k-th row and every later row.
                let mut changed = y;
                for v in &mut changed[k..8] {
                    *v += 1000.0;
                }
                let out =
                    build_features(&frame(&stores, &offsets, &some(&changed)), &s, &options())
                        .unwrap()
                        .columns;
                for name in &feature_names {
                    let (a, b) = (values(&base, name), values(&out, name));
                    for row in (0..=k).chain(8..16) {
                        assert_eq!(
                            a[row].to_bits(),
                            b[row].to_bits(),
                            "{transforms}: {name} at row {row} changed with the target at row {k}"
                        );
                    }
                }
                // Later rows of A do see the change: the comparison above is not vacuous.
                if k < 7 {
                    let seen = feature_names.iter().any(|name| {
                        let (a, b) = (values(&base, name), values(&out, name));
                        (k + 1..8).any(|row| a[row].to_bits() != b[row].to_bits())
                    });
                    assert!(seen, "{transforms}: no later row saw the change at row {k}");
                }
            }
        }
    }

    #[test]
    fn calendar_features_of_known_dates() {
        let days: Vec<i32> = (0..6).map(|i| epoch(2023, 6, 30) + i).collect();
        let df = dated_frame(&["A"; 6], &days, &some(&[1.0; 6]));
        let s = spec(
            r#"{"calendar": ["dayofweek", "dayofmonth", "dayofyear", "weekofyear", "month",
                "quarter", "year", "is_weekend", "is_month_start", "is_month_end", "holiday",
                "days_to_holiday", "days_since_holiday", "dayofweek_sin", "dayofweek_cos",
                "month_cos"]}"#,
        );
        let opts = FeatureOptions {
            holidays: Some(vec![i64::from(epoch(2023, 7, 4))]),
            ..options()
        };
        let out = build_features(&df, &s, &opts).unwrap().columns;
        // 2023-06-30 (Fri) .. 2023-07-05 (Wed).
        let expect = |name: &str, want: &[f64]| assert_close(&values(&out, name), want, name);
        expect("dayofweek", &[4.0, 5.0, 6.0, 0.0, 1.0, 2.0]);
        expect("dayofmonth", &[30.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        expect("dayofyear", &[181.0, 182.0, 183.0, 184.0, 185.0, 186.0]);
        expect("weekofyear", &[26.0, 26.0, 26.0, 27.0, 27.0, 27.0]);
        expect("month", &[6.0, 7.0, 7.0, 7.0, 7.0, 7.0]);
        expect("quarter", &[2.0, 3.0, 3.0, 3.0, 3.0, 3.0]);
        expect("year", &[2023.0; 6]);
        expect("is_weekend", &[0.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
        expect("is_month_start", &[0.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
        expect("is_month_end", &[1.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        expect("holiday", &[0.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
        expect("days_to_holiday", &[4.0, 3.0, 2.0, 1.0, 0.0, NAN]);
        expect("days_since_holiday", &[NAN, NAN, NAN, NAN, 0.0, 1.0]);
        let sin = values(&out, "dayofweek_sin");
        let cos = values(&out, "dayofweek_cos");
        assert!(
            sin[3].abs() < 1e-12 && (cos[3] - 1.0).abs() < 1e-12,
            "Monday"
        );
        assert!((sin[0] - (TAU * 4.0 / 7.0).sin()).abs() < 1e-12, "Friday");
        let month_cos = values(&out, "month_cos");
        assert!((month_cos[1] + 1.0).abs() < 1e-12, "July is half way round");
        assert!(
            (month_cos[0] - (TAU * 5.0 / 12.0).cos()).abs() < 1e-12,
            "June"
        );

        // The default calendar is the US federal one: July 4th, Juneteenth 2023 (Mon 06-19)
        // before it and Labor Day (09-04) after it.
        let out = build_features(&df, &s, &options_us()).unwrap().columns;
        assert_close(
            &values(&out, "holiday"),
            &[0.0, 0.0, 0.0, 0.0, 1.0, 0.0],
            "US holiday",
        );
        assert_close(
            &values(&out, "days_since_holiday"),
            &[11.0, 12.0, 13.0, 14.0, 0.0, 1.0],
            "US days since",
        );
        assert_eq!(values(&out, "days_to_holiday")[5], 61.0);

        // Month ends of other lengths; 2024 is a leap year.
        let days = [
            epoch(2023, 2, 28),
            epoch(2024, 2, 28),
            epoch(2024, 2, 29),
            epoch(2024, 4, 30),
            epoch(2024, 5, 30),
            epoch(2024, 12, 31),
        ];
        let df = dated_frame(&["A"; 6], &days, &some(&[1.0; 6]));
        let s = spec(r#"{"calendar": ["is_month_end", "dayofyear", "quarter", "dayofyear_cos"]}"#);
        let out = build_features(&df, &s, &opts).unwrap().columns;
        expect_in(&out, "is_month_end", &[1.0, 0.0, 1.0, 1.0, 0.0, 1.0]);
        expect_in(&out, "dayofyear", &[59.0, 59.0, 60.0, 121.0, 151.0, 366.0]);
        expect_in(&out, "quarter", &[1.0, 1.0, 1.0, 2.0, 2.0, 4.0]);
        // The last day of a leap year is one step short of a full turn.
        let cos = values(&out, "dayofyear_cos");
        assert!((cos[5] - (TAU * 365.0 / 366.0).cos()).abs() < 1e-12);
    }

    fn expect_in(out: &DataFrame, name: &str, want: &[f64]) {
        assert_close(&values(out, name), want, name);
    }

    fn options_us() -> FeatureOptions {
        FeatureOptions {
            holidays: None,
            ..options()
        }
    }

    #[test]
    fn hourly_datetime_axis() {
        let start = i64::from(epoch(2023, 1, 2)) * 86_400_000 + 22 * 3_600_000;
        let ms: Vec<i64> = (0..4).map(|h| start + h * 3_600_000).collect();
        let time = Series::new("date".into(), ms)
            .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))
            .unwrap();
        let df = DataFrame::new_infer_height(vec![
            Series::new("store".into(), ["A"; 4]).into_column(),
            time.into_column(),
            Series::new("y".into(), [1.0, 2.0, 3.0, 4.0]).into_column(),
        ])
        .unwrap();
        let s = spec(r#"{"lags": [2], "calendar": ["hour", "dayofmonth"]}"#);
        let opts = FeatureOptions {
            freq: None,
            ..options()
        };
        let out = build_features(&df, &s, &opts).unwrap().columns;
        assert_close(&values(&out, "lag2"), &[NAN, NAN, 1.0, 2.0], "lag2");
        assert_close(&values(&out, "hour"), &[22.0, 23.0, 0.0, 1.0], "hour");
        assert_close(&values(&out, "dayofmonth"), &[2.0, 2.0, 3.0, 3.0], "day");
    }

    #[test]
    fn past_only_covariates_are_only_lagged_and_others_used_at_their_row() {
        // A misses offset 3; sizes are strings coded by sorted value (L = 0, S = 1).
        let df = frame(
            &["A", "A", "A", "A", "B", "B"],
            &[0, 1, 2, 4, 0, 1],
            &some(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        );
        let df = with(
            df,
            Series::new("traffic".into(), [100.0, 110.0, 120.0, 140.0, 7.0, 8.0]),
        );
        let df = with(
            df,
            Series::new("size".into(), ["S", "S", "S", "S", "L", "L"]),
        );
        let df = with(
            df,
            Series::new("price".into(), [1.0, 1.5, 2.0, 2.5, 3.0, 3.5]),
        );
        let opts = FeatureOptions {
            exogenous: ExogenousRoles {
                static_features: vec!["size".into()],
                known_future: vec!["price".into()],
                past_only: vec!["traffic".into()],
            },
            ..options()
        };
        let s = spec(r#"{"lags": [1], "past_only_lags": [1, 2]}"#);
        let out = build_features(&df, &s, &opts).unwrap().columns;
        assert_eq!(
            names(&out),
            ["lag1", "traffic_lag1", "traffic_lag2", "size", "price"]
        );
        assert_close(
            &values(&out, "traffic_lag1"),
            &[NAN, 100.0, 110.0, NAN, NAN, 7.0],
            "traffic lag1",
        );
        assert_close(
            &values(&out, "traffic_lag2"),
            &[NAN, NAN, 100.0, 120.0, NAN, NAN],
            "traffic lag2",
        );
        assert_close(
            &values(&out, "size"),
            &[1.0, 1.0, 1.0, 1.0, 0.0, 0.0],
            "size codes",
        );
        assert_close(
            &values(&out, "price"),
            &[1.0, 1.5, 2.0, 2.5, 3.0, 3.5],
            "price at its own row",
        );
        // Without their own lags, past-only columns take the target's.
        let out = build_features(&df, &spec(r#"{"lags": [2]}"#), &opts)
            .unwrap()
            .columns;
        assert_eq!(names(&out), ["lag2", "traffic_lag2", "size", "price"]);

        // A static feature must not change within a series.
        let mut bad = df.clone();
        bad.with_column(Series::new("size".into(), ["S", "S", "M", "S", "L", "L"]).into_column())
            .unwrap();
        let err = build_features(&bad, &s, &opts).unwrap_err();
        assert!(
            matches!(&err, CoreError::InvalidData { column, reason }
                if column == "size" && reason.contains("store=A at row 2")),
            "{err}"
        );
    }

    #[test]
    fn relative_known_future_is_over_the_series_median_of_its_history() {
        // A's last row has no target: its price is not part of the median (10, 12, 30 -> 12).
        let df = frame(
            &["A", "A", "A", "A", "B", "B"],
            &[0, 1, 2, 3, 0, 1],
            &[Some(1.0), Some(2.0), Some(3.0), None, Some(1.0), Some(1.0)],
        );
        let df = with(
            df,
            Series::new("price".into(), [10.0, 12.0, 30.0, 40.0, 0.0, 0.0]),
        );
        let mut opts = options();
        opts.exogenous.known_future = vec!["price".into()];
        let s = spec(r#"{"relative": ["price"]}"#);
        let out = build_features(&df, &s, &opts).unwrap().columns;
        assert_eq!(names(&out), ["price_rel"]);
        // B's median price is 0: no ratio.
        assert_close(
            &values(&out, "price_rel"),
            &[10.0 / 12.0, 1.0, 2.5, 40.0 / 12.0, NAN, NAN],
            "price_rel",
        );
        // A relative column must be known-future.
        opts.exogenous.known_future.clear();
        let err = build_features(&df, &s, &opts).unwrap_err();
        assert!(
            matches!(&err, CoreError::InvalidArgument { name, .. } if name == "features.relative")
        );
    }

    #[test]
    fn target_transforms_hand_computed() {
        let df = frame(
            &["A", "A", "A", "B", "B", "B"],
            &[0, 1, 2, 0, 1, 2],
            &some(&[1.0, 2.0, 3.0, 1.0, 3.0, 6.0]),
        );
        // Standardize per series: A (mean 2, std 1), B (mean 10/3, std sqrt(19/3), ddof 1).
        let out = build_features(
            &df,
            &spec(r#"{"lags": [1], "target_transforms": ["standardize"]}"#),
            &options(),
        )
        .unwrap()
        .columns;
        assert_eq!(names(&out), ["y", "lag1"]);
        let sd = (19.0f64 / 3.0).sqrt();
        let b = [
            (1.0 - 10.0 / 3.0) / sd,
            (3.0 - 10.0 / 3.0) / sd,
            (6.0 - 10.0 / 3.0) / sd,
        ];
        assert_close(
            &values(&out, "y"),
            &[-1.0, 0.0, 1.0, b[0], b[1], b[2]],
            "standardized y",
        );
        assert_close(
            &values(&out, "lag1"),
            &[NAN, -1.0, 0.0, NAN, b[0], b[1]],
            "lag1 of standardized y",
        );
        // log1p then first difference.
        let float32 = FeatureOptions {
            float32: true,
            ..options()
        };
        let out = build_features(
            &df,
            &spec(r#"{"lags": [1], "target_transforms": ["log1p", "diff"]}"#),
            &float32,
        )
        .unwrap()
        .columns;
        let l = |v: f64| v.ln_1p();
        let diffs = [
            NAN,
            l(2.0) - l(1.0),
            l(3.0) - l(2.0),
            NAN,
            l(3.0) - l(1.0),
            l(6.0) - l(3.0),
        ];
        assert_close(&values(&out, "y"), &diffs, "diffed log1p y");
        // The target stays Float64; features are written as Float32.
        assert_eq!(out.column("y").unwrap().dtype(), &DataType::Float64);
        assert_eq!(out.column("lag1").unwrap().dtype(), &DataType::Float32);
        let lag1 = values(&out, "lag1");
        assert!(lag1[0].is_nan() && lag1[1].is_nan() && lag1[3].is_nan() && lag1[4].is_nan());
        assert!((lag1[2] - diffs[1]).abs() < 1e-6);
        assert!((lag1[5] - diffs[4]).abs() < 1e-6);
        // log1p refuses values at or below -1, naming the series.
        let neg = frame(&["A", "A"], &[0, 1], &some(&[1.0, -1.0]));
        let err = build_features(
            &neg,
            &spec(r#"{"lags": [1], "target_transforms": ["log1p"]}"#),
            &options(),
        )
        .unwrap_err();
        assert!(
            matches!(&err, CoreError::InvalidData { column, reason }
                if column == "y" && reason.contains("store=A")),
            "{err}"
        );
    }

    #[test]
    fn group_rolling_sums_the_group_per_period() {
        // Region N = stores A and B, region S = store C.
        let df = frame(
            &["A", "A", "A", "B", "B", "B", "C", "C", "C"],
            &[0, 1, 2, 0, 1, 2, 0, 1, 2],
            &some(&[1.0, 2.0, 3.0, 10.0, 20.0, 30.0, 5.0, 6.0, 7.0]),
        );
        let df = with(
            df,
            Series::new(
                "region".into(),
                ["N", "N", "N", "N", "N", "N", "S", "S", "S"],
            ),
        );
        let s = spec(
            r#"{"group_rolling": [{"group_col": "region", "window": 2, "lag": 1, "stats": ["sum", "mean"], "min_samples": 1}]}"#,
        );
        let out = build_features(&df, &s, &options()).unwrap().columns;
        assert_eq!(
            names(&out),
            [
                "region_rolling_sum_lag1_window2",
                "region_rolling_mean_lag1_window2"
            ]
        );
        // N totals 11, 22, 33; S totals 5, 6, 7.
        assert_close(
            &values(&out, "region_rolling_sum_lag1_window2"),
            &[NAN, 11.0, 33.0, NAN, 11.0, 33.0, NAN, 5.0, 11.0],
            "group sum",
        );
        assert_close(
            &values(&out, "region_rolling_mean_lag1_window2"),
            &[NAN, 11.0, 16.5, NAN, 11.0, 16.5, NAN, 5.0, 5.5],
            "group mean",
        );
        // Recursive steps cannot follow group features.
        assert!(matches!(
            StepState::new(&df, &s, &options()),
            Err(CoreError::InvalidArgument { .. })
        ));
    }

    #[test]
    fn group_series_off_one_grid_are_refused_naming_the_group_and_series() {
        // Weekly stores of region N: A on Mondays, B on Tuesdays.
        let df = frame(
            &["A", "A", "A", "B", "B", "B"],
            &[0, 7, 14, 1, 8, 15],
            &some(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        );
        let df = with(df, Series::new("region".into(), ["N"; 6]));
        let s = spec(
            r#"{"group_rolling": [{"group_col": "region", "window": 2, "lag": 1, "stats": ["sum"], "min_samples": 1}]}"#,
        );
        let weekly = FeatureOptions {
            freq: Some(Frequency::Days(7)),
            ..options()
        };
        let err = build_features(&df, &s, &weekly).unwrap_err();
        assert!(
            matches!(&err, CoreError::InvalidData { column, reason } if column == "region"
                && reason.contains("the series of the `region` group of store=A are not on one \
                                    1w grid: series store=B has 2023-01-03, not a whole number \
                                    of periods after series store=A starts at 2023-01-02")),
            "{err}"
        );
    }

    #[test]
    fn bad_panels_and_name_clashes_are_typed_errors() {
        // A repeated (series, date) key.
        let dup = frame(&["A", "A", "A"], &[0, 1, 1], &some(&[1.0, 2.0, 3.0]));
        let err = build_features(&dup, &spec(r#"{"lags": [1]}"#), &options()).unwrap_err();
        assert!(
            matches!(&err, CoreError::InvalidData { column, reason }
                if column == "date" && reason.contains("repeats 2023-01-03 at row 2")),
            "{err}"
        );
        // A known-future column named like a feature.
        let df = frame(&["A", "A"], &[0, 1], &some(&[1.0, 2.0]));
        let df = with(df, Series::new("lag1".into(), [0.0, 0.0]));
        let mut opts = options();
        opts.exogenous.known_future = vec!["lag1".into()];
        let err = build_features(&df, &spec(r#"{"lags": [1]}"#), &opts).unwrap_err();
        assert!(
            matches!(&err, CoreError::InvalidArgument { reason, .. } if reason.contains("`lag1`")),
            "{err}"
        );
        // A missing covariate is named.
        opts.exogenous.known_future = vec!["promo".into()];
        assert!(matches!(
            build_features(&df, &spec(r#"{"lags": [1]}"#), &opts),
            Err(CoreError::MissingColumn { column, .. }) if column == "promo"
        ));
    }

    /// Two series with covariates; A misses offset 2.
    fn history() -> DataFrame {
        let df = frame(
            &["A", "A", "A", "A", "A", "B", "B", "B", "B", "B"],
            &[0, 1, 3, 4, 5, 0, 1, 2, 3, 4],
            &some(&[3.0, 5.0, 4.0, 6.0, 8.0, 10.0, 12.0, 11.0, 14.0, 13.0]),
        );
        let df = with(
            df,
            Series::new(
                "traffic".into(),
                [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
            ),
        );
        let df = with(
            df,
            Series::new(
                "size".into(),
                ["S", "S", "S", "S", "S", "L", "L", "L", "L", "L"],
            ),
        );
        with(
            df,
            Series::new(
                "price".into(),
                [2.0, 2.0, 3.0, 2.0, 2.0, 5.0, 5.0, 5.0, 6.0, 5.0],
            ),
        )
    }

    fn covariate_options() -> FeatureOptions {
        FeatureOptions {
            exogenous: ExogenousRoles {
                static_features: vec!["size".into()],
                known_future: vec!["price".into()],
                past_only: vec!["traffic".into()],
            },
            holidays: Some(vec![i64::from(epoch(2023, 1, 6))]),
            ..options()
        }
    }

    fn spec_with(transforms: &str, extra: &str) -> FeatureSpec {
        spec(&RICH.replace(
            "\"lags\"",
            &format!(
                "\"target_transforms\": {transforms}, \"calendar\": [\"dayofweek\", \"holiday\", \"days_to_holiday\"], {extra} \"lags\""
            ),
        ))
    }

    /// Row `i` of `out` against row `j` of `full`, column by column (by name).
    fn assert_same_row(out: &DataFrame, i: usize, full: &DataFrame, j: usize, what: &str) {
        for name in names(out) {
            let (a, b) = (values(out, &name)[i], values(full, &name)[j]);
            assert!(same(a, b), "{what}: {name}: {a} vs {b}");
        }
    }

    #[test]
    fn build_last_features_equals_the_last_row_of_build_features() {
        // The history with its rows reversed, so the output order has to be mapped back.
        let df = history().reverse();
        for (transforms, extra) in [
            ("[]", r#""relative": ["price"], "#),
            (r#"["log1p"]"#, ""),
            (r#"["standardize"]"#, r#""past_only_lags": [2], "#),
            (r#"["log1p", "diff"]"#, ""),
        ] {
            let s = spec_with(transforms, extra);
            let full = build_features(&df, &s, &covariate_options()).unwrap();
            let last = build_last_features(&df, &s, &covariate_options()).unwrap();
            assert_eq!(names(&last.columns), names(&full.columns), "{transforms}");
            assert_eq!(last.columns.height(), 2);
            // A's last row (offset 5) was row 4, now 9 - 4 = 5; B's (row 9) is now row 0.
            let last_order = last.order.clone().unwrap();
            assert_eq!(last_order, [5, 0]);
            let full_order = full.order.clone().unwrap();
            for (s_idx, &row) in last_order.iter().enumerate() {
                let j = full_order.iter().position(|&r| r == row).unwrap();
                assert_same_row(&last.columns, s_idx, &full.columns, j, transforms);
            }
        }
    }

    #[test]
    fn step_state_next_features_equal_build_features_on_the_extended_frame() {
        let base = epoch(2023, 1, 2);
        // A's history ends on 8, B's on 13; each step pushes 7 and 15, given on the model's
        // (transformed) scale.
        let l = |v: f64| v.ln_1p();
        for (transforms, pushed) in [
            ("[]", [7.0, 15.0]),
            (r#"["log1p"]"#, [l(7.0), l(15.0)]),
            (r#"["log1p", "diff"]"#, [l(7.0) - l(8.0), l(15.0) - l(13.0)]),
        ] {
            let s = spec_with(transforms, "");
            let opts = covariate_options();
            let mut state = StepState::new(&history(), &s, &opts).unwrap();
            assert_eq!(state.n_series(), 2);
            assert_eq!(
                state.next_times(),
                [i64::from(base + 6), i64::from(base + 5)]
            );
            let raw = state.push_predictions(&pushed).unwrap();
            assert_close(&raw, &[7.0, 15.0], transforms);
            assert_eq!(
                state.next_times(),
                [i64::from(base + 7), i64::from(base + 6)]
            );
            let next = state.next_features(&[vec![2.5, 5.5]]).unwrap();

            // The same periods as rows: the pushed values (no traffic known), then the periods
            // being predicted (no target).
            let more = frame(
                &["A", "B", "A", "B"],
                &[6, 5, 7, 6],
                &[Some(7.0), Some(15.0), None, None],
            );
            let more = with(more, Series::new("traffic".into(), [None::<f64>; 4]));
            let more = with(more, Series::new("size".into(), ["S", "L", "S", "L"]));
            let more = with(more, Series::new("price".into(), [2.0, 5.0, 2.5, 5.5]));
            let extended = history().vstack(&more).unwrap();
            let full = build_features(&extended, &s, &opts).unwrap();
            let mut full_names = names(&full.columns);
            full_names.retain(|n| n != "y");
            assert_eq!(names(&next), full_names, "{transforms}");
            let order = full.order.unwrap();
            for (series, row) in [(0, 12), (1, 13)] {
                let j = order.iter().position(|&r| r == row).unwrap();
                assert_same_row(&next, series, &full.columns, j, transforms);
            }
            // The step did read the pushed value.
            assert!(same(values(&next, "lag1")[1], pushed[1]), "{transforms}");
        }
        // Wrong shapes are refused.
        let mut state =
            StepState::new(&history(), &spec_with("[]", ""), &covariate_options()).unwrap();
        assert!(state.next_features(&[]).is_err());
        assert!(state.next_features(&[vec![1.0]]).is_err());
        assert!(state.push_predictions(&[1.0]).is_err());
    }

    /// A's history on its grid (offset 2 missing) and B's.
    const A: [f64; 6] = [3.0, 5.0, NAN, 4.0, 6.0, 8.0];
    const B: [f64; 5] = [10.0, 12.0, 11.0, 14.0, 13.0];

    /// A step state of the transforms alone: what the strategies without one undo them with.
    fn inverter(transforms: &str) -> StepState {
        let s = spec(&format!(r#"{{"target_transforms": {transforms}}}"#));
        StepState::new(&history(), &s, &options()).unwrap()
    }

    #[test]
    fn a_linear_trend_with_diff_continues_exactly() {
        // y = 5 + 2t: the first difference is 2 everywhere, and a model predicting 2 forecasts
        // the line.
        let df = frame(
            &["A"; 20],
            &(0..20).collect::<Vec<_>>(),
            &some(
                &(0..20)
                    .map(|t| 5.0 + 2.0 * f64::from(t))
                    .collect::<Vec<_>>(),
            ),
        );
        let s = spec(r#"{"lags": [1, 2], "target_transforms": ["diff"]}"#);
        let mut state = StepState::new(&df, &s, &options()).unwrap();
        for step in 0..10 {
            let x = state.next_features(&[]).unwrap();
            assert_close(&values(&x, "lag1"), &[2.0], "lag1 of the differences");
            let raw = state.push_predictions(&[2.0]).unwrap();
            assert_close(&raw, &[5.0 + 2.0 * f64::from(20 + step)], "the trend");
        }
        // A difference at lag 7 reads its own stage seven periods back: after seven steps,
        // earlier predictions.
        let weekly = frame(
            &["A"; 14],
            &(0..14).collect::<Vec<_>>(),
            &some(
                &(0..14)
                    .map(|t| f64::from(t % 7) + f64::from(t / 7) * 10.0)
                    .collect::<Vec<_>>(),
            ),
        );
        let s = spec(r#"{"target_transforms": ["diff7"]}"#);
        let mut inverter = StepState::new(&weekly, &s, &options()).unwrap();
        for step in 0..21 {
            let raw = inverter.push_predictions(&[10.0]).unwrap();
            let t = 14 + step;
            assert_close(&raw, &[f64::from(t % 7) + f64::from(t / 7) * 10.0], "diff7");
        }
    }

    #[test]
    fn standardize_is_undone_with_the_scale_of_the_history() {
        let mut inv = inverter(r#"["standardize"]"#);
        let finite = |v: &[f64]| {
            v.iter()
                .copied()
                .filter(|x| x.is_finite())
                .collect::<Vec<_>>()
        };
        let (a, b) = (finite(&A), finite(&B));
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let std = |v: &[f64]| {
            let m = mean(v);
            (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
        };
        // The round trip: a value standardized with the history's scale comes back.
        let z = [(9.0 - mean(&a)) / std(&a), (20.0 - mean(&b)) / std(&b)];
        assert_close(
            &inv.push_predictions(&z).unwrap(),
            &[9.0, 20.0],
            "round trip",
        );
        // The scale stays the history's: the forecasts do not refit it.
        assert_close(
            &inv.push_predictions(&[0.0, 1.0]).unwrap(),
            &[mean(&a), mean(&b) + std(&b)],
            "fixed scale",
        );
        // A step state's features read the standardized predictions.
        let s = spec(r#"{"lags": [1, 2], "target_transforms": ["standardize"]}"#);
        let mut state = StepState::new(&history(), &s, &options()).unwrap();
        state.push_predictions(&z).unwrap();
        state.push_predictions(&[0.5, -0.5]).unwrap();
        let x = state.next_features(&[]).unwrap();
        assert_close(&values(&x, "lag1"), &[0.5, -0.5], "lag1");
        assert_close(&values(&x, "lag2"), &z, "lag2");
    }

    #[test]
    fn a_log1p_diff7_chain_is_undone_step_by_step() {
        // Daily series with a weekly pattern growing 10% a week: log1p then diff7 makes it a
        // constant ln(1.1) on the log(1 + y) scale.
        let level = |t: i32| 100.0 * 1.1f64.powi(t / 7) * (1.0 + 0.1 * f64::from(t % 7)) - 1.0;
        let df = frame(
            &["A"; 21],
            &(0..21).collect::<Vec<_>>(),
            &some(&(0..21).map(level).collect::<Vec<_>>()),
        );
        let s = spec(r#"{"lags": [7], "target_transforms": ["log1p", "diff7"]}"#);
        let mut state = StepState::new(&df, &s, &options()).unwrap();
        for t in 21..35 {
            let x = state.next_features(&[]).unwrap();
            assert_close(&values(&x, "lag7"), &[1.1f64.ln()], "lag7");
            let raw = state.push_predictions(&[1.1f64.ln()]).unwrap();
            assert_close(&raw, &[level(t)], "log1p diff7");
        }
        // A series shorter than the difference has no value to add.
        let short = frame(&["A"; 3], &[0, 1, 2], &some(&[1.0, 2.0, 3.0]));
        let mut state = StepState::new(&short, &s, &options()).unwrap();
        assert!(state.push_predictions(&[0.1]).unwrap()[0].is_nan());
        // Nor does the transformed history the next steps read, as `build_features` has it.
        let lag1 = spec(r#"{"lags": [1], "target_transforms": ["log1p", "diff7"]}"#);
        let mut state = StepState::new(&short, &lag1, &options()).unwrap();
        state.push_predictions(&[0.1]).unwrap();
        assert!(values(&state.next_features(&[]).unwrap(), "lag1")[0].is_nan());
    }

    #[test]
    fn a_missing_last_target_does_not_stop_a_difference_from_being_undone() {
        // y = 5 + 2t with the last period unreported: the level carries over from the period
        // before, so the forecast goes on from 41 instead of turning NaN for good.
        let mut y: Vec<Option<f64>> = (0..20).map(|t| Some(5.0 + 2.0 * f64::from(t))).collect();
        y[19] = None;
        let df = frame(&["A"; 20], &(0..20).collect::<Vec<_>>(), &y);
        let s = spec(r#"{"target_transforms": ["diff"]}"#);
        let mut state = StepState::new(&df, &s, &options()).unwrap();
        assert_close(
            &state.push_predictions(&[2.0]).unwrap(),
            &[43.0],
            "over the gap",
        );
        assert_close(
            &state.push_predictions(&[2.0]).unwrap(),
            &[45.0],
            "after it",
        );
    }

    #[test]
    fn smearing_factor_of_a_lognormal_sample() {
        // log(1 + y) = mu + e, e ~ N(0, sigma^2): E[exp(e)] = exp(sigma^2 / 2). Series 0 has
        // such residuals, series 1 none off the log scale's mean (all 0, factor 1).
        use rand::SeedableRng;
        use rand_distr::Distribution;
        let (n, sigma) = (20_000, 0.5);
        let normal = rand_distr::Normal::new(0.0, sigma).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut e: Vec<f64> = (0..n).map(|_| normal.sample(&mut rng)).collect();
        e.extend(std::iter::repeat_n(0.0, n));
        let s = spec(r#"{"target_transforms": ["log1p", "diff7"]}"#);
        let (per_series, panel) = smearing_factors(&s, &e, &[n, n]).unwrap().unwrap();
        // exp(0.125) = 1.133; the sample mean's standard error is 0.004.
        let want = (sigma * sigma / 2.0).exp();
        assert!(
            (per_series[0] - want).abs() < 0.015,
            "{per_series:?} vs {want}"
        );
        assert_eq!(per_series[1], 1.0);
        assert!(
            (panel - (per_series[0] + 1.0) / 2.0).abs() < 1e-12,
            "{panel}"
        );
        // Series without finite residuals take the panel's factor; the sizes must add up.
        let (per_series, _) = smearing_factors(&s, &[NAN, 0.0], &[1, 1]).unwrap().unwrap();
        assert_close(&per_series, &[1.0, 1.0], "no residuals");
        assert!(smearing_factors(&s, &e, &[1]).is_err());
        // Chains where the model's residual is not the log-scale residual get none.
        let scaled = spec(r#"{"target_transforms": ["log1p", "standardize"]}"#);
        assert!(smearing_factors(&scaled, &e, &[n, n]).unwrap().is_none());
        assert!(smearing_factors(&spec("{}"), &e, &[n, n])
            .unwrap()
            .is_none());
        // The correction scales 1 + y.
        assert_close(
            &smeared(&[0.0, 9.0], &[1.2, 1.1]).unwrap(),
            &[0.2, 10.0],
            "smeared",
        );
    }
}
