//! Data checks before anything is fitted: the data contract, gaps, outliers, drift.

use crate::error::{CoreError, Result};
use crate::freq::{Frequency, TimeAxis};
use crate::grid::{
    check_panel_frequency, missing_periods_message, span_message, MAX_MISSING_PERIODS,
    MAX_SERIES_PERIODS,
};
use crate::metrics::median;
use crate::panel::{check_key_dtype, column, numeric_values, time_axis, ColumnRoles, Panel};
use polars::prelude::*;
use serde::Serialize;

/// How bad an issue is. Only errors make a report not `ok`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

/// One row (or series, or column) that shows an issue.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Example {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// One finding of one check.
#[derive(Debug, Clone, Serialize)]
pub struct Issue {
    pub severity: Severity,
    pub check: &'static str,
    pub column: Option<String>,
    /// Rows, series or periods affected (the message says which).
    pub count: usize,
    pub message: String,
    pub examples: Vec<Example>,
}

/// Everything `validate` found, plus a short profile of the frame.
#[derive(Debug, Clone, Serialize)]
pub struct ValidationReport {
    pub ok: bool,
    pub n_rows: usize,
    pub n_series: usize,
    pub start: Option<String>,
    pub end: Option<String>,
    pub freq: Option<String>,
    pub issues: Vec<Issue>,
}

impl ValidationReport {
    /// The typed error `raise_on_error=True` raises, listing every error-level issue.
    pub fn into_error(self) -> Option<CoreError> {
        let errors: Vec<&Issue> = self
            .issues
            .iter()
            .filter(|i| i.severity == Severity::Error)
            .collect();
        if errors.is_empty() {
            return None;
        }
        let summary = errors
            .iter()
            .map(|i| match &i.column {
                Some(c) => format!("- {} [{c}]: {}", i.check, i.message),
                None => format!("- {}: {}", i.check, i.message),
            })
            .collect::<Vec<_>>()
            .join("\n");
        Some(CoreError::Validation {
            count: errors.len(),
            summary,
        })
    }
}

/// Settings of `validate`.
#[derive(Debug, Clone)]
pub struct ValidationOptions {
    pub roles: ColumnRoles,
    /// Expected step; inferred when `None`.
    pub freq: Option<Frequency>,
    /// Series with fewer observations are an error (set it to what the features need).
    pub min_length: Option<usize>,
    /// Robust z-score above which a value is an outlier.
    pub outlier_threshold: f64,
    /// Times after this are in the future.
    pub as_of: Option<chrono::NaiveDateTime>,
    /// Population stability index above which a column has drifted (warning); half of it
    /// is reported as info.
    pub drift_threshold: f64,
}

const MAX_EXAMPLES: usize = 5;

struct Collector {
    issues: Vec<Issue>,
}

impl Collector {
    fn push(
        &mut self,
        severity: Severity,
        check: &'static str,
        column: Option<&str>,
        count: usize,
        message: String,
        examples: Vec<Example>,
    ) {
        self.issues.push(Issue {
            severity,
            check,
            column: column.map(str::to_owned),
            count,
            message,
            examples,
        });
    }
}

fn check_options(opts: &ValidationOptions) -> Result<()> {
    if !(opts.outlier_threshold.is_finite() && opts.outlier_threshold > 0.0) {
        return Err(CoreError::invalid_argument(
            "outlier_threshold",
            format!("must be a positive number, got {}", opts.outlier_threshold),
        ));
    }
    if !(opts.drift_threshold.is_finite() && opts.drift_threshold > 0.0) {
        return Err(CoreError::invalid_argument(
            "drift_threshold",
            format!("must be a positive number, got {}", opts.drift_threshold),
        ));
    }
    Ok(())
}

/// What a call needs of the target column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetRule {
    /// Numeric and finite in every row: what fitting, backtests and forecasts from a history
    /// read.
    Finite,
    /// Numeric; a missing value (null or NaN) is allowed, an infinity is not: features of
    /// rows whose target is not known yet.
    Optional,
    /// Not read (the forecast periods of `future`, a time split).
    Unread,
}

impl TargetRule {
    /// `finite`, `optional` or `unread`.
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "finite" => Ok(Self::Finite),
            "optional" => Ok(Self::Optional),
            "unread" => Ok(Self::Unread),
            other => Err(CoreError::invalid_argument(
                "target",
                format!("expected finite, optional or unread, got {other:?}"),
            )),
        }
    }
}

/// Runs every check. Returns `Err` only for bad options; data problems become issues.
pub fn validate(
    df: &DataFrame,
    reference: Option<&DataFrame>,
    opts: &ValidationOptions,
) -> Result<ValidationReport> {
    check_options(opts)?;
    let mut out = Collector { issues: Vec::new() };
    let roles = &opts.roles;
    let mut report = ValidationReport {
        ok: true,
        n_rows: df.height(),
        n_series: 0,
        start: None,
        end: None,
        freq: None,
        issues: Vec::new(),
    };
    if let Some(checked) = check_data(df, roles, opts.freq, TargetRule::Finite, &mut out)? {
        let panel = &checked.panel;
        report.n_series = panel.n_series();
        if let (Some(first), Some(last)) = (panel.times.iter().min(), panel.times.iter().max()) {
            report.start = Some(panel.axis.format(*first));
            report.end = Some(panel.axis.format(*last));
        }
        report.freq = checked.freq.map(|f| f.to_string());
        check_lengths(panel, roles, opts.min_length, &mut out);
        check_outliers(
            panel,
            &checked.target,
            roles,
            opts.outlier_threshold,
            &mut out,
        );
        check_constant(panel, &checked.target, roles, &mut out);
        if let Some(as_of) = opts.as_of {
            check_future(panel, roles, as_of, &mut out);
        }
    }
    if let Some(reference) = reference {
        check_drift(df, reference, opts.drift_threshold, &mut out)?;
    }
    out.issues.sort_by_key(|i| i.severity);
    report.ok = !out.issues.iter().any(|i| i.severity == Severity::Error);
    report.issues = out.issues;
    Ok(report)
}

/// Checks a frame against the data contract before any work is done on it: the checks of
/// [`validate`] whose findings are errors (columns and dtypes, an empty frame, null keys,
/// times or targets, repeated keys, target values `target` forbids, times off the `freq` grid
/// or a `freq` the data does not step by). The first breach is the error; it names the column
/// and, for a value, the series, time and row of the frame as the caller passed it (`frame`
/// is the argument's name).
pub fn check_frame(
    df: &DataFrame,
    roles: &ColumnRoles,
    freq: Option<Frequency>,
    target: TargetRule,
    frame: &str,
) -> Result<()> {
    if let Some((_, _, error)) = column_errors(df, roles, target).into_iter().next() {
        return Err(error);
    }
    let mut out = Collector { issues: Vec::new() };
    check_data(df, roles, freq, target, &mut out)?;
    match out
        .issues
        .into_iter()
        .find(|i| i.severity == Severity::Error)
    {
        None => Ok(()),
        Some(issue) if issue.check == EMPTY_FRAME => {
            Err(CoreError::invalid_argument(frame, "the frame has no rows"))
        }
        Some(issue) => Err(CoreError::InvalidData {
            column: issue.column.clone().unwrap_or_default(),
            reason: match issue.examples.first() {
                Some(first) => format!("{}; the first: {}", issue.message, first.describe(frame)),
                None => issue.message,
            },
        }),
    }
}

const EMPTY_FRAME: &str = "empty_frame";

/// A panel that passed the contract's column checks, with its target in panel order (NaN where
/// missing or not read) and the frequency its periods were checked at.
struct Checked {
    panel: Panel,
    target: Vec<f64>,
    freq: Option<Frequency>,
}

/// The data contract's checks, as issues. Returns the panel when the checks that need it
/// could run (the columns are usable and no key or time is null).
fn check_data(
    df: &DataFrame,
    roles: &ColumnRoles,
    freq: Option<Frequency>,
    target: TargetRule,
    out: &mut Collector,
) -> Result<Option<Checked>> {
    let columns_ok = check_contract(df, roles, target, out);
    if df.height() == 0 {
        out.push(
            Severity::Error,
            EMPTY_FRAME,
            None,
            0,
            "the frame has no rows".into(),
            vec![],
        );
        return Ok(None);
    }
    let keys_have_nulls = roles
        .id_cols
        .iter()
        .chain([&roles.time_col])
        .any(|c| df.column(c).is_ok_and(|c| c.null_count() > 0));
    let panel_checks = columns_ok && !keys_have_nulls;
    check_nulls(df, roles, target, panel_checks, out);
    if !panel_checks {
        return Ok(None);
    }
    let panel = Panel::build(df, roles)?;
    check_duplicates(&panel, roles, out);
    let values = if target == TargetRule::Unread {
        vec![f64::NAN; df.height()]
    } else {
        let col = column(df, &roles.target_col)?;
        let values = panel.gather(numeric_values(col)?);
        let null = panel.gather(col.is_null().iter().map(|v| v == Some(true)).collect());
        check_target_values(&panel, &values, &null, roles, target, out);
        values
    };
    let freq = check_periods(&panel, roles, freq, out)?;
    Ok(Some(Checked {
        panel,
        target: values,
        freq,
    }))
}

/// The columns a call needs that are missing (check `missing_column`) or have a dtype it
/// cannot use (`dtype`), with the column's name.
fn column_errors(
    df: &DataFrame,
    roles: &ColumnRoles,
    target: TargetRule,
) -> Vec<(&'static str, String, CoreError)> {
    let dtype_of = |name: &str, col: &Column| -> Result<()> {
        if name == roles.time_col {
            time_axis(col).map(|_| ())
        } else if name == roles.target_col {
            if col.dtype().is_primitive_numeric() {
                Ok(())
            } else {
                Err(CoreError::ColumnType {
                    column: name.to_owned(),
                    expected: "a numeric type".into(),
                    found: col.dtype().to_string(),
                })
            }
        } else {
            check_key_dtype(col)
        }
    };
    let target_col = (target != TargetRule::Unread).then_some(&roles.target_col);
    roles
        .id_cols
        .iter()
        .chain([&roles.time_col])
        .chain(target_col)
        .filter_map(|name| match column(df, name) {
            Ok(col) => dtype_of(name, col)
                .err()
                .map(|e| ("dtype", name.clone(), e)),
            Err(e) => Some(("missing_column", name.clone(), e)),
        })
        .collect()
}

/// Required columns and their dtypes, as issues. Returns whether panel checks can run.
fn check_contract(
    df: &DataFrame,
    roles: &ColumnRoles,
    target: TargetRule,
    out: &mut Collector,
) -> bool {
    let errors = column_errors(df, roles, target);
    let ok = errors.is_empty();
    for (check, name, error) in errors {
        out.push(
            Severity::Error,
            check,
            Some(&name),
            1,
            error.to_string(),
            vec![],
        );
    }
    ok
}

/// Nulls per column, by row; the target's are reported with their series and time by
/// `check_target_values` when the `panel_checks` run.
fn check_nulls(
    df: &DataFrame,
    roles: &ColumnRoles,
    target: TargetRule,
    panel_checks: bool,
    out: &mut Collector,
) {
    for col in df.columns() {
        let nulls = col.null_count();
        if nulls == 0 {
            continue;
        }
        let name = col.name().as_str();
        let is_target = name == roles.target_col && target != TargetRule::Unread;
        if is_target && panel_checks {
            continue;
        }
        let required = roles.id_cols.iter().any(|c| c == name)
            || name == roles.time_col
            || (is_target && target == TargetRule::Finite);
        let mask = col.is_null();
        let examples = mask
            .iter()
            .enumerate()
            .filter(|(_, v)| *v == Some(true))
            .take(MAX_EXAMPLES)
            .map(|(row, _)| Example {
                row: Some(row),
                ..Example::default()
            })
            .collect();
        out.push(
            if required {
                Severity::Error
            } else {
                Severity::Warning
            },
            "nulls",
            Some(name),
            nulls,
            format!("{nulls} null value(s) in `{name}`"),
            examples,
        );
    }
}

impl Example {
    /// `series store=A, 2023-01-05, row 7 of `df`, value inf`, for error messages.
    fn describe(&self, frame: &str) -> String {
        let mut parts = Vec::new();
        parts.extend(self.series.as_ref().map(|s| format!("series {s}")));
        parts.extend(self.time.clone());
        parts.extend(self.row.map(|row| format!("row {row} of `{frame}`")));
        parts.extend(self.value.as_ref().map(|v| format!("value {v}")));
        parts.join(", ")
    }
}

fn example(panel: &Panel, series: usize, pos: usize, value: Option<String>) -> Example {
    Example {
        row: Some(panel.order[pos] as usize),
        series: Some(panel.label(series)),
        time: Some(panel.axis.format(panel.times[pos])),
        value,
    }
}

fn check_duplicates(panel: &Panel, roles: &ColumnRoles, out: &mut Collector) {
    let mut count = 0;
    let mut examples = Vec::new();
    for s in 0..panel.n_series() {
        let r = panel.range(s);
        for pos in r.start + 1..r.end {
            if panel.times[pos] == panel.times[pos - 1] {
                count += 1;
                if examples.len() < MAX_EXAMPLES {
                    examples.push(example(panel, s, pos, None));
                }
            }
        }
    }
    if count > 0 {
        out.push(
            Severity::Error,
            "duplicate_keys",
            Some(&roles.time_col),
            count,
            format!(
                "{count} row(s) repeat a ({}, {}) key already seen",
                roles.id_cols.join(", "),
                roles.time_col
            ),
            examples,
        );
    }
}

fn check_target_values(
    panel: &Panel,
    target: &[f64],
    null: &[bool],
    roles: &ColumnRoles,
    rule: TargetRule,
    out: &mut Collector,
) {
    let name = roles.target_col.as_str();
    let scan = |pred: &dyn Fn(usize) -> bool| {
        let mut count = 0;
        let mut examples = Vec::new();
        for s in 0..panel.n_series() {
            for pos in panel.range(s) {
                if pred(pos) {
                    count += 1;
                    if examples.len() < MAX_EXAMPLES {
                        examples.push(example(panel, s, pos, Some(target[pos].to_string())));
                    }
                }
            }
        }
        (count, examples)
    };
    let (count, mut examples) = scan(&|pos| null[pos]);
    if count > 0 {
        examples.iter_mut().for_each(|e| e.value = None);
        let (severity, hint) = match rule {
            TargetRule::Finite => (
                Severity::Error,
                " (drop those rows: a missing period is allowed)",
            ),
            _ => (Severity::Warning, ""),
        };
        out.push(
            severity,
            "nulls",
            Some(name),
            count,
            format!("{count} null value(s) in `{name}`{hint}"),
            examples,
        );
    }
    // A NaN is a missing value only where the rule allows one.
    let (count, examples) = scan(&|pos| {
        let v = target[pos];
        v.is_infinite() || (rule == TargetRule::Finite && v.is_nan() && !null[pos])
    });
    if count > 0 {
        let what = if rule == TargetRule::Finite {
            "NaN or infinite"
        } else {
            "infinite"
        };
        out.push(
            Severity::Error,
            "non_finite_target",
            Some(name),
            count,
            format!("{count} {what} value(s) in `{name}` (drop those rows: a missing period is allowed)"),
            examples,
        );
    }
    let (count, examples) = scan(&|pos| target[pos] < 0.0);
    if count > 0 {
        out.push(Severity::Warning, "negative_target", Some(name), count, format!("{count} negative value(s) in `{name}` (returns?); Poisson and Tweedie objectives cannot fit them"), examples);
    }
}

fn check_periods(
    panel: &Panel,
    roles: &ColumnRoles,
    freq: Option<Frequency>,
    out: &mut Collector,
) -> Result<Option<Frequency>> {
    let mut other_step = false;
    let freq = match freq {
        Some(f) => {
            f.check_axis(panel.axis)?;
            // Data that steps by another frequency shows as periods missing: that is the error
            // then, not the missing periods.
            if let Err(error) = check_panel_frequency(panel, &roles.time_col, f) {
                let reason = match error {
                    CoreError::InvalidData { reason, .. } => reason,
                    other => other.to_string(),
                };
                out.push(
                    Severity::Error,
                    "frequency",
                    Some(&roles.time_col),
                    1,
                    reason,
                    vec![],
                );
                other_step = true;
            }
            f
        }
        None => match Frequency::infer(&panel.times, &panel.offsets, panel.axis) {
            Ok(f) => f,
            Err(e) => {
                let reason = match e {
                    CoreError::InvalidArgument { reason, .. } => reason,
                    other => other.to_string(),
                };
                out.push(
                    Severity::Info,
                    "frequency",
                    Some(&roles.time_col),
                    0,
                    reason,
                    vec![],
                );
                return Ok(None);
            }
        },
    };
    let (mut off_grid, mut off_grid_series, mut off_examples) = (0, 0, Vec::new());
    let (mut missing, mut gap_series, mut gap_examples) = (0i64, 0, Vec::new());
    let (mut span_series, mut span_first) = (0, None);
    for s in 0..panel.n_series() {
        let r = panel.range(s);
        let (mut series_off, mut series_missing) = (false, false);
        let (mut missing_in_series, mut series_gap_examples) = (0, Vec::new());
        // Periods count from the series' first, as its grid does (`grid::series_on_grid`): a
        // row off that grid is one the forecaster cannot place.
        let start = panel.times[r.start];
        let mut previous = 0;
        for pos in r.start + 1..r.end {
            if panel.times[pos] == panel.times[pos - 1] {
                continue;
            }
            match freq.steps_between(start, panel.times[pos], panel.axis) {
                None => {
                    off_grid += 1;
                    series_off = true;
                    if off_examples.len() < MAX_EXAMPLES {
                        off_examples.push(example(panel, s, pos, None));
                    }
                }
                Some(k) => {
                    if k > previous + 1 {
                        missing_in_series += k - previous - 1;
                        series_missing = true;
                        if series_gap_examples.len() < MAX_EXAMPLES {
                            series_gap_examples.push(example(
                                panel,
                                s,
                                pos,
                                Some(format!(
                                    "{} period(s) missing before this row",
                                    k - previous - 1
                                )),
                            ));
                        }
                    }
                    previous = k;
                }
            }
        }
        off_grid_series += usize::from(series_off);
        let periods = usize::try_from(previous)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        // A series too long to fill is its own error, outside the panel's count of gaps.
        if series_missing && periods > MAX_SERIES_PERIODS {
            span_series += 1;
            if span_first.is_none() {
                let last = panel.times[r.end - 1];
                let message = span_message(
                    &panel.label(s),
                    periods,
                    freq,
                    &panel.axis.format(start),
                    &panel.axis.format(last),
                );
                span_first = Some((message, example(panel, s, r.end - 1, None)));
            }
        } else {
            missing += missing_in_series;
            gap_series += usize::from(series_missing);
            let room = MAX_EXAMPLES - gap_examples.len();
            gap_examples.extend(series_gap_examples.into_iter().take(room));
        }
    }
    if let Some((message, first)) = span_first {
        let message = match span_series {
            1 => message,
            n => format!("{n} series span too many periods; the first: {message}"),
        };
        let time = Some(roles.time_col.as_str());
        out.push(
            Severity::Error,
            "series_span",
            time,
            span_series,
            message,
            vec![first],
        );
    }
    let time = roles.time_col.as_str();
    if off_grid > 0 {
        out.push(Severity::Error, "irregular_periods", Some(time), off_grid, format!("{off_grid} row(s) in {off_grid_series} series are off their series' {freq} grid (not a whole number of periods after the series' first)"), off_examples);
    }
    let missing = usize::try_from(missing).unwrap_or(usize::MAX);
    if missing > 0 && !other_step {
        // Too many to fill in memory is an error; the forecasters fill a few.
        let (severity, message) = if missing > MAX_MISSING_PERIODS {
            (Severity::Error, missing_periods_message(missing, freq))
        } else {
            (
                Severity::Warning,
                format!("{missing} missing period(s) at {freq} in {gap_series} series"),
            )
        };
        out.push(
            severity,
            "missing_periods",
            Some(time),
            missing,
            message,
            gap_examples,
        );
    }
    Ok(Some(freq))
}

fn check_lengths(
    panel: &Panel,
    roles: &ColumnRoles,
    min_length: Option<usize>,
    out: &mut Collector,
) {
    let Some(min) = min_length else { return };
    let short: Vec<usize> = (0..panel.n_series())
        .filter(|&s| panel.range(s).len() < min)
        .collect();
    if short.is_empty() {
        return;
    }
    let examples = short
        .iter()
        .take(MAX_EXAMPLES)
        .map(|&s| Example {
            series: Some(panel.label(s)),
            value: Some(format!("{} observations", panel.range(s).len())),
            ..Example::default()
        })
        .collect();
    out.push(
        Severity::Error,
        "series_too_short",
        Some(&roles.target_col),
        short.len(),
        format!("{} series have fewer than {min} observations", short.len()),
        examples,
    );
}

fn check_outliers(
    panel: &Panel,
    target: &[f64],
    roles: &ColumnRoles,
    threshold: f64,
    out: &mut Collector,
) {
    let (mut count, mut series, mut examples) = (0, 0, Vec::new());
    let mut buf = Vec::new();
    for s in 0..panel.n_series() {
        let r = panel.range(s);
        // Sales are multiplicative: a 3x promotion week is normal, so non-negative series are
        // scored on the log1p scale.
        let values = &target[r.clone()];
        let log_scale = values.iter().all(|&v| v.is_nan() || v >= 0.0);
        let scaled = |v: f64| if log_scale { v.ln_1p() } else { v };
        buf.clear();
        buf.extend(values.iter().copied().filter(|v| v.is_finite()).map(scaled));
        if buf.len() < 8 {
            continue;
        }
        let med = median(&mut buf);
        for v in buf.iter_mut() {
            *v = (*v - med).abs();
        }
        let mad = median(&mut buf);
        // With a zero MAD (mostly-constant or intermittent series) fall back to the mean
        // absolute deviation, as a robust z-score is otherwise infinite for every non-median value.
        let scale = if mad > 0.0 {
            1.4826 * mad
        } else {
            1.2533 * buf.iter().sum::<f64>() / buf.len() as f64
        };
        // On the log scale no spread is taken below half a doubling: counts of 0, 1 and 2 in a
        // slow mover are its usual noise, not outliers.
        let scale = if log_scale {
            scale.max(std::f64::consts::LN_2 / 2.0)
        } else {
            scale
        };
        if scale <= 0.0 {
            continue;
        }
        let mut any = false;
        for pos in r {
            // Only spikes: drops to zero are closures, stockouts or intermittent demand,
            // which have their own flags.
            let z = (scaled(target[pos]) - med) / scale;
            if z > threshold {
                count += 1;
                any = true;
                if examples.len() < MAX_EXAMPLES {
                    examples.push(example(
                        panel,
                        s,
                        pos,
                        Some(format!("{} (robust z {:.1})", target[pos], z)),
                    ));
                }
            }
        }
        series += usize::from(any);
    }
    if count > 0 {
        out.push(
            Severity::Warning,
            "outliers",
            Some(&roles.target_col),
            count,
            format!("{count} value(s) in {series} series have a robust z-score above {threshold} (spikes; log1p scale for non-negative series)"),
            examples,
        );
    }
}

fn check_constant(panel: &Panel, target: &[f64], roles: &ColumnRoles, out: &mut Collector) {
    let constant: Vec<usize> = (0..panel.n_series())
        .filter(|&s| {
            let values: Vec<f64> = target[panel.range(s)]
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .collect();
            values.len() >= 2 && values.iter().all(|&v| v == values[0])
        })
        .collect();
    if constant.is_empty() {
        return;
    }
    let examples = constant
        .iter()
        .take(MAX_EXAMPLES)
        .map(|&s| Example {
            series: Some(panel.label(s)),
            value: Some(target[panel.range(s).start].to_string()),
            ..Example::default()
        })
        .collect();
    out.push(
        Severity::Warning,
        "constant_series",
        Some(&roles.target_col),
        constant.len(),
        format!("{} series never change value", constant.len()),
        examples,
    );
}

fn check_future(
    panel: &Panel,
    roles: &ColumnRoles,
    as_of: chrono::NaiveDateTime,
    out: &mut Collector,
) {
    // An `as_of` the time column cannot hold lies before or after all of its times.
    let bound =
        panel
            .axis
            .checked_from_naive(as_of)
            .unwrap_or(if as_of.and_utc().timestamp() < 0 {
                i64::MIN
            } else {
                i64::MAX
            });
    let (mut count, mut examples) = (0, Vec::new());
    for s in 0..panel.n_series() {
        for pos in panel.range(s) {
            if panel.times[pos] > bound {
                count += 1;
                if examples.len() < MAX_EXAMPLES {
                    examples.push(example(panel, s, pos, None));
                }
            }
        }
    }
    if count > 0 {
        let shown = match panel.axis {
            TimeAxis::Date => as_of.date().to_string(),
            TimeAxis::Datetime { .. } => as_of.to_string(),
        };
        out.push(
            Severity::Warning,
            "future_dates",
            Some(&roles.time_col),
            count,
            format!("{count} row(s) are dated after {shown}"),
            examples,
        );
    }
}

/// Population stability index of `current` against bins cut at the deciles of `reference`.
pub fn population_stability_index(reference: &[f64], current: &[f64]) -> Option<f64> {
    let mut reference: Vec<f64> = reference
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let current: Vec<f64> = current.iter().copied().filter(|v| v.is_finite()).collect();
    if reference.is_empty() || current.is_empty() {
        return None;
    }
    reference.sort_by(|a, b| a.total_cmp(b));
    let mut edges: Vec<f64> = (1..10)
        .map(|k| reference[k * (reference.len() - 1) / 10])
        .collect();
    edges.dedup();
    let bin = |v: f64| edges.partition_point(|&e| e < v);
    let share = |values: &[f64]| {
        let mut counts = vec![0usize; edges.len() + 1];
        for &v in values {
            counts[bin(v)] += 1;
        }
        counts
            .into_iter()
            .map(|c| (c as f64 / values.len() as f64).max(1e-4))
            .collect::<Vec<_>>()
    };
    let (p, q) = (share(&reference), share(&current));
    Some(p.iter().zip(&q).map(|(p, q)| (q - p) * (q / p).ln()).sum())
}

fn check_drift(
    df: &DataFrame,
    reference: &DataFrame,
    threshold: f64,
    out: &mut Collector,
) -> Result<()> {
    for col in df.columns() {
        let dtype = col.dtype();
        if !(dtype.is_primitive_numeric() || dtype.is_bool()) {
            continue;
        }
        let Ok(ref_col) = reference.column(col.name()) else {
            continue;
        };
        if !(ref_col.dtype().is_primitive_numeric() || ref_col.dtype().is_bool()) {
            continue;
        }
        let Some(psi) =
            population_stability_index(&numeric_values(ref_col)?, &numeric_values(col)?)
        else {
            continue;
        };
        let severity = if psi > threshold {
            Severity::Warning
        } else if psi > threshold / 2.5 {
            Severity::Info
        } else {
            continue;
        };
        let name = col.name().as_str();
        out.push(
            severity,
            "drift",
            Some(name),
            1,
            format!("`{name}` has a population stability index of {psi:.3} against the reference"),
            vec![Example {
                value: Some(format!("{psi:.4}")),
                ..Example::default()
            }],
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{dated_frame, datetime_frame, epoch, frame};
    use chrono::NaiveDate;

    /// Epoch day of 2023-01-02 plus `offset` days.
    fn day(offset: i32) -> i32 {
        epoch(2023, 1, 2) + offset
    }

    fn with_price(mut df: DataFrame, price: &[Option<f64>]) -> DataFrame {
        df.with_column(Series::new("price".into(), price).into_column())
            .unwrap();
        df
    }

    fn options() -> ValidationOptions {
        ValidationOptions {
            roles: ColumnRoles::new(vec!["store".into()], "date", "y").unwrap(),
            freq: Some(Frequency::Days(1)),
            min_length: None,
            outlier_threshold: 3.5,
            as_of: None,
            drift_threshold: 0.25,
        }
    }

    fn find<'a>(report: &'a ValidationReport, check: &str) -> Option<&'a Issue> {
        report.issues.iter().find(|i| i.check == check)
    }

    fn checks(report: &ValidationReport) -> Vec<&'static str> {
        report.issues.iter().map(|i| i.check).collect()
    }

    /// Two complete daily series of four non-constant values each.
    fn clean() -> DataFrame {
        frame(
            &["A", "A", "A", "A", "B", "B", "B", "B"],
            &[0, 1, 2, 3, 0, 1, 2, 3],
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 5.0, 6.0].map(Some),
        )
    }

    fn breach(df: &DataFrame, target: TargetRule) -> CoreError {
        check_frame(df, &options().roles, options().freq, target, "df").unwrap_err()
    }

    fn reason(error: CoreError) -> (String, String) {
        match error {
            CoreError::InvalidData { column, reason } => (column, reason),
            other => panic!("expected invalid data, got {other:?}"),
        }
    }

    #[test]
    fn check_frame_names_the_first_breach_in_the_callers_rows() {
        // B's rows first: the NaN is row 1 of the frame as passed, B's second day.
        let nan = frame(
            &["B", "B", "A", "A"],
            &[0, 1, 0, 1],
            &[Some(1.0), Some(f64::NAN), Some(2.0), Some(3.0)],
        );
        let (column, text) = reason(breach(&nan, TargetRule::Finite));
        assert_eq!(column, "y");
        assert!(
            text.starts_with("1 NaN or infinite value(s) in `y` (drop those rows")
                && text
                    .ends_with("; the first: series store=B, 2023-01-03, row 1 of `df`, value NaN"),
            "{text}"
        );
        // A missing value where the target may be missing; an infinity never.
        assert!(check_frame(&nan, &options().roles, None, TargetRule::Optional, "df").is_ok());
        let inf = frame(&["A", "A"], &[0, 1], &[Some(1.0), Some(f64::INFINITY)]);
        let (_, text) = reason(breach(&inf, TargetRule::Optional));
        assert!(text.contains("1 infinite value(s)"), "{text}");
        let null = frame(&["A", "A"], &[0, 1], &[Some(1.0), None]);
        let (_, text) = reason(breach(&null, TargetRule::Finite));
        assert!(text.starts_with("1 null value(s) in `y`"), "{text}");
        assert!(
            text.ends_with("; the first: series store=A, 2023-01-03, row 1 of `df`"),
            "{text}"
        );
        assert!(check_frame(&null, &options().roles, None, TargetRule::Optional, "df").is_ok());

        // A repeated key, at the row that repeats it.
        let repeated = frame(&["A", "A", "A"], &[0, 1, 1], &[Some(1.0); 3]);
        let (column, text) = reason(breach(&repeated, TargetRule::Finite));
        assert_eq!(column, "date");
        assert!(text.contains("row 2 of `df`"), "{text}");
        // Weekly rows read at a daily frequency.
        let weekly = frame(&["A", "A", "A"], &[0, 7, 14], &[Some(1.0); 3]);
        let (column, text) = reason(breach(&weekly, TargetRule::Finite));
        assert_eq!(column, "date");
        assert!(text.contains("freq is 1d; pass freq=\"1w\""), "{text}");
        assert!(check_frame(&weekly, &options().roles, None, TargetRule::Finite, "df").is_ok());
    }

    #[test]
    fn check_frame_refuses_missing_columns_wrong_dtypes_and_no_rows() {
        let roles = options().roles;
        let unread = clean().drop("y").unwrap();
        assert!(matches!(
            breach(&unread, TargetRule::Finite),
            CoreError::MissingColumn { column, .. } if column == "y"
        ));
        assert!(check_frame(&unread, &roles, None, TargetRule::Unread, "future").is_ok());
        let mut flags = clean();
        flags
            .with_column(Series::new("y".into(), [true; 8]).into_column())
            .unwrap();
        assert!(matches!(
            breach(&flags, TargetRule::Finite),
            CoreError::ColumnType { column, .. } if column == "y"
        ));
        assert!(matches!(
            check_frame(&clean().head(Some(0)), &roles, None, TargetRule::Finite, "new_df"),
            Err(CoreError::InvalidArgument { name, .. }) if name == "new_df"
        ));
        // `validate` reports the same breaches as issues.
        let report = validate(&clean().head(Some(0)), None, &options()).unwrap();
        assert_eq!(checks(&report), [EMPTY_FRAME]);
        let weekly = frame(&["A", "A", "A"], &[0, 7, 14], &[1.0, 2.0, 3.0].map(Some));
        let report = validate(&weekly, None, &options()).unwrap();
        assert!(!report.ok);
        assert_eq!(checks(&report), ["frequency"]);
    }

    #[test]
    fn clean_panel_passes_with_profile() {
        let opts = ValidationOptions {
            min_length: Some(4),
            ..options()
        };
        let report = validate(&clean(), None, &opts).unwrap();
        assert!(report.ok);
        assert!(report.issues.is_empty(), "{:?}", report.issues);
        assert_eq!(report.n_rows, 8);
        assert_eq!(report.n_series, 2);
        assert_eq!(report.start.as_deref(), Some("2023-01-02"));
        assert_eq!(report.end.as_deref(), Some("2023-01-05"));
        assert_eq!(report.freq.as_deref(), Some("1d"));
        assert!(report.into_error().is_none());

        // Without a declared frequency it is inferred from the data.
        let inferred = validate(&clean(), None, &ValidationOptions { freq: None, ..opts }).unwrap();
        assert!(inferred.ok);
        assert_eq!(inferred.freq.as_deref(), Some("1d"));
    }

    #[test]
    fn duplicate_key_is_an_error_naming_series_time_and_row() {
        let df = frame(
            &["A", "A", "A", "A", "B", "B", "B"],
            &[0, 1, 1, 2, 0, 1, 2],
            &[1.0, 2.0, 2.5, 3.0, 5.0, 6.0, 7.0].map(Some),
        );
        // A covariate with a null: its warning is found before the duplicate but listed after.
        let df = with_price(
            df,
            &[
                Some(1.0),
                None,
                Some(1.0),
                Some(1.0),
                Some(1.0),
                Some(1.0),
                Some(1.0),
            ],
        );
        let report = validate(&df, None, &options()).unwrap();
        assert!(!report.ok);
        assert_eq!(checks(&report), ["duplicate_keys", "nulls"]);
        let dup = find(&report, "duplicate_keys").expect("duplicate reported");
        assert_eq!(dup.severity, Severity::Error);
        assert_eq!(dup.column.as_deref(), Some("date"));
        assert_eq!(dup.count, 1);
        assert_eq!(dup.examples.len(), 1);
        let ex = &dup.examples[0];
        assert_eq!(ex.row, Some(2));
        assert_eq!(ex.series.as_deref(), Some("store=A"));
        assert_eq!(ex.time.as_deref(), Some("2023-01-03"));
        // A repeated time is not also a gap or an off-grid step.
        assert!(find(&report, "irregular_periods").is_none());
        assert!(find(&report, "missing_periods").is_none());
    }

    #[test]
    fn null_target_is_an_error_at_its_row_and_null_extra_column_a_warning() {
        let df = frame(
            &["A", "A", "A", "B", "B", "B"],
            &[0, 1, 2, 0, 1, 2],
            &[Some(1.0), Some(2.0), Some(3.0), Some(4.0), None, Some(6.0)],
        );
        let df = with_price(
            df,
            &[Some(1.0), None, None, Some(1.0), Some(1.0), Some(1.0)],
        );
        let report = validate(&df, None, &options()).unwrap();
        assert!(!report.ok);
        let target = report
            .issues
            .iter()
            .find(|i| i.check == "nulls" && i.column.as_deref() == Some("y"))
            .expect("null target reported");
        assert_eq!(target.severity, Severity::Error);
        assert_eq!(target.count, 1);
        assert_eq!(target.examples[0].row, Some(4));
        let price = report
            .issues
            .iter()
            .find(|i| i.check == "nulls" && i.column.as_deref() == Some("price"))
            .expect("null covariate reported");
        assert_eq!(price.severity, Severity::Warning);
        assert_eq!(price.count, 2);
        let rows: Vec<_> = price.examples.iter().map(|e| e.row).collect();
        assert_eq!(rows, [Some(1), Some(2)]);
        // A null target still lets the panel checks run.
        assert_eq!(report.n_series, 2);
        // Errors are listed before warnings.
        assert_eq!(report.issues[0].severity, Severity::Error);
    }

    #[test]
    fn infinite_target_is_an_error_and_negative_a_warning() {
        let df = frame(
            &["A", "A", "A", "B", "B", "B"],
            &[0, 1, 2, 0, 1, 2],
            &[
                Some(1.0),
                Some(f64::INFINITY),
                Some(3.0),
                Some(4.0),
                Some(5.0),
                Some(-2.0),
            ],
        );
        let report = validate(&df, None, &options()).unwrap();
        assert!(!report.ok);
        let inf = find(&report, "non_finite_target").expect("infinite value reported");
        assert_eq!(inf.severity, Severity::Error);
        assert_eq!(inf.count, 1);
        assert_eq!(inf.examples[0].row, Some(1));
        assert_eq!(inf.examples[0].series.as_deref(), Some("store=A"));
        assert_eq!(inf.examples[0].value.as_deref(), Some("inf"));
        let neg = find(&report, "negative_target").expect("negative value reported");
        assert_eq!(neg.severity, Severity::Warning);
        assert_eq!(neg.count, 1);
        assert_eq!(neg.examples[0].row, Some(5));
        assert_eq!(neg.examples[0].series.as_deref(), Some("store=B"));
        assert_eq!(neg.examples[0].value.as_deref(), Some("-2"));

        // A negative value alone does not fail the report.
        let only_negative = frame(&["A", "A"], &[0, 1], &[Some(-1.0), Some(2.0)]);
        let report = validate(&only_negative, None, &options()).unwrap();
        assert!(report.ok);
        assert_eq!(checks(&report), ["negative_target"]);
    }

    #[test]
    fn missing_periods_are_counted_against_the_declared_frequency() {
        // A lacks 2023-01-04 and 2023-01-05; B is complete.
        let df = frame(
            &["A", "A", "A", "B", "B", "B", "B", "B"],
            &[0, 1, 4, 0, 1, 2, 3, 4],
            &[1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 4.0, 5.0].map(Some),
        );
        let report = validate(&df, None, &options()).unwrap();
        assert!(report.ok, "gaps are only a warning");
        let gap = find(&report, "missing_periods").expect("gap reported");
        assert_eq!(gap.severity, Severity::Warning);
        assert_eq!(gap.count, 2);
        assert_eq!(gap.message, "2 missing period(s) at 1d in 1 series");
        assert_eq!(gap.examples.len(), 1);
        assert_eq!(gap.examples[0].row, Some(2));
        assert_eq!(gap.examples[0].time.as_deref(), Some("2023-01-06"));
        assert_eq!(
            gap.examples[0].value.as_deref(),
            Some("2 period(s) missing before this row")
        );

        // The same frame read as every-other-day data: B's daily steps are off that grid.
        let opts = ValidationOptions {
            freq: Some(Frequency::Days(2)),
            ..options()
        };
        let report = validate(&df, None, &opts).unwrap();
        assert!(!report.ok);
        let off = find(&report, "irregular_periods").expect("off-grid steps reported");
        assert_eq!(off.severity, Severity::Error);
        // Every other day from each series' first: A's day 1 is off that grid, B's 1 and 3.
        assert_eq!(off.count, 3);
        assert!(off.message.starts_with("3 row(s) in 2 series"));
        assert_eq!(off.examples[0].row, Some(1));
        let step = find(&report, "frequency").expect("the data's own step named");
        assert!(step.message.contains("steps by 1d"), "{}", step.message);
    }

    #[test]
    fn gaps_too_many_to_fill_over_the_panel_are_refused_before_any_grid() {
        // Eleven hourly series, each spanning 9.5M periods (under the per-series cap) with three
        // rows: 104.5M missing periods in all.
        let hour_ms = 3_600_000_i64;
        let base = i64::from(epoch(2023, 1, 2)) * 24 * hour_ms;
        let names: Vec<String> = (0..11).map(|s| format!("S{s:02}")).collect();
        let stores: Vec<&str> = names.iter().flat_map(|n| [n.as_str(); 3]).collect();
        let times: Vec<i64> = (0..11)
            .flat_map(|_| [base, base + hour_ms, base + 9_500_000 * hour_ms])
            .collect();
        let df = datetime_frame(&stores, times, &[Some(1.0); 33]);
        let hourly = Some(Frequency::Seconds(3600));
        let opts = ValidationOptions {
            freq: hourly,
            ..options()
        };
        let report = validate(&df, None, &opts).unwrap();
        let missing = find(&report, "missing_periods").expect("the gaps are reported");
        assert_eq!(missing.severity, Severity::Error);
        assert_eq!(missing.count, 11 * (9_500_001 - 3));
        assert!(
            missing.message.contains("at most 100000000"),
            "{}",
            missing.message
        );
        assert!(find(&report, "series_span").is_none());
        let roles = options().roles;
        let refused = check_frame(&df, &roles, hourly, TargetRule::Finite, "df").unwrap_err();
        assert!(
            refused.to_string().contains("miss 104499978 periods"),
            "{refused}"
        );
        let panel = Panel::build(&df, &roles).unwrap();
        let target = vec![1.0; 33];
        let grids = crate::grid::series_on_grid(&panel, &target, Frequency::Seconds(3600), "date");
        assert!(grids.unwrap_err().to_string().contains("at most 100000000"));
    }

    #[test]
    fn a_series_spanning_too_many_periods_is_refused_before_its_grid_is_filled() {
        // Hourly rows 1,259 years apart (a day holds at most 3.7M periods in years 1 to 9999).
        let hour_ms = 3_600_000_i64;
        let base = i64::from(epoch(2023, 1, 2)) * 24 * hour_ms;
        let hours = vec![base, base + hour_ms, base + 460_000 * 24 * hour_ms];
        let df = datetime_frame(&["A"; 3], hours, &[1.0, 2.0, 3.0].map(Some));
        let opts = ValidationOptions {
            freq: Some(Frequency::Seconds(3600)),
            ..options()
        };
        let report = validate(&df, None, &opts).unwrap();
        let span = find(&report, "series_span").expect("the span is reported");
        assert_eq!(span.severity, Severity::Error);
        assert!(
            span.message.contains("spans 11040001 periods"),
            "{}",
            span.message
        );
        assert_eq!(span.examples[0].row, Some(2));
        let roles = options().roles;
        let hourly = Some(Frequency::Seconds(3600));
        let refused = check_frame(&df, &roles, hourly, TargetRule::Finite, "df").unwrap_err();
        assert!(
            refused.to_string().contains("spans 11040001 periods"),
            "{refused}"
        );
        let features = crate::features::build_features(
            &df,
            &crate::features::spec::FeatureSpec::from_json(r#"{"lags": [1]}"#).unwrap(),
            &crate::features::FeatureOptions {
                roles,
                exogenous: Default::default(),
                freq: hourly,
                holidays: None,
                float32: false,
            },
        );
        assert!(features
            .unwrap_err()
            .to_string()
            .contains("at most 10000000"));
    }

    #[test]
    fn a_monthly_series_on_the_28th_is_on_its_grid() {
        let days = [(2023, 1, 28), (2023, 2, 28), (2023, 3, 28), (2023, 4, 28)]
            .map(|(y, m, d)| epoch(y, m, d));
        let df = dated_frame(&["A"; 4], &days, &[1.0, 2.0, 3.0, 4.0].map(Some));
        let opts = ValidationOptions {
            freq: Some(Frequency::Months(1)),
            ..options()
        };
        let report = validate(&df, None, &opts).unwrap();
        assert!(report.ok, "{:?}", report.issues);
        assert!(find(&report, "irregular_periods").is_none());
    }

    #[test]
    fn weekly_frequency_flags_rows_off_the_grid_and_a_skipped_week() {
        let df = frame(
            &["A", "A", "A", "A"],
            &[0, 7, 17, 24],
            &[1.0, 2.0, 3.0, 4.0].map(Some),
        );
        let opts = ValidationOptions {
            freq: Some(Frequency::Days(7)),
            ..options()
        };
        let report = validate(&df, None, &opts).unwrap();
        let off = find(&report, "irregular_periods").expect("10-day step is off the weekly grid");
        // Days 17 and 24 are not a whole number of weeks after day 0: the grid cannot place
        // them, although 17 -> 24 is one week.
        assert_eq!(off.count, 2);
        assert_eq!(off.examples[0].row, Some(2));
        assert!(find(&report, "missing_periods").is_none());

        let df = frame(&["A", "A", "A"], &[0, 7, 21], &[1.0, 2.0, 3.0].map(Some));
        let report = validate(&df, None, &opts).unwrap();
        assert!(report.ok);
        assert_eq!(report.freq.as_deref(), Some("1w"));
        let gap = find(&report, "missing_periods").expect("skipped week reported");
        assert_eq!(gap.count, 1);
        assert_eq!(gap.examples[0].row, Some(2));
    }

    #[test]
    fn series_shorter_than_min_length_is_an_error_naming_it() {
        let opts = ValidationOptions {
            min_length: Some(4),
            ..options()
        };
        let df = frame(
            &["A", "A", "A", "A", "B", "B", "B"],
            &[0, 1, 2, 3, 0, 1, 2],
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0].map(Some),
        );
        let report = validate(&df, None, &opts).unwrap();
        assert!(!report.ok);
        let short = find(&report, "series_too_short").expect("short series reported");
        assert_eq!(short.severity, Severity::Error);
        assert_eq!(short.count, 1);
        assert_eq!(short.examples.len(), 1);
        assert_eq!(short.examples[0].series.as_deref(), Some("store=B"));
        assert_eq!(short.examples[0].value.as_deref(), Some("3 observations"));
        assert_eq!(short.examples[0].row, None);
        // Exactly min_length observations is enough.
        let opts = ValidationOptions {
            min_length: Some(3),
            ..opts
        };
        assert!(validate(&df, None, &opts).unwrap().ok);
    }

    #[test]
    fn unsorted_input_is_accepted_and_examples_point_at_input_rows() {
        // The clean panel of `clean()` with the rows shuffled and A's 2023-01-03 repeated at
        // the very end.
        let df = frame(
            &["B", "A", "A", "B", "A", "B", "A", "B", "A"],
            &[2, 3, 0, 0, 2, 3, 1, 1, 1],
            &[5.0, 4.0, 1.0, 5.0, 3.0, 6.0, 2.0, 6.0, 9.0].map(Some),
        );
        let report = validate(&df, None, &options()).unwrap();
        assert_eq!(report.n_series, 2);
        assert_eq!(report.start.as_deref(), Some("2023-01-02"));
        assert_eq!(report.end.as_deref(), Some("2023-01-05"));
        // Order by itself is no issue: only the repeated key is.
        assert_eq!(checks(&report), ["duplicate_keys"]);
        let dup = &report.issues[0];
        assert_eq!(dup.count, 1);
        assert_eq!(dup.examples[0].series.as_deref(), Some("store=A"));
        assert_eq!(dup.examples[0].time.as_deref(), Some("2023-01-03"));
        // The later input row of the two (the sort is stable).
        assert_eq!(dup.examples[0].row, Some(8));

        // Shuffled without the duplicate: clean, and the gap example is an input row.
        let df = frame(
            &["A", "B", "A", "B", "A"],
            &[3, 1, 0, 0, 1],
            &[4.0, 6.0, 1.0, 5.0, 2.0].map(Some),
        );
        let report = validate(&df, None, &options()).unwrap();
        assert!(report.ok);
        assert_eq!(checks(&report), ["missing_periods"]);
        assert_eq!(report.issues[0].examples[0].row, Some(0));
    }

    #[test]
    fn into_error_lists_every_error_and_no_warning() {
        let df = frame(
            &["A", "A", "A", "B", "B", "B"],
            &[0, 1, 1, 0, 1, 2],
            &[
                Some(1.0),
                Some(2.0),
                Some(3.0),
                Some(f64::INFINITY),
                Some(-1.0),
                Some(1.0),
            ],
        );
        let report = validate(&df, None, &options()).unwrap();
        assert!(!report.ok);
        assert!(find(&report, "negative_target").is_some());
        match report.into_error() {
            Some(CoreError::Validation { count, summary }) => {
                assert_eq!(count, 2);
                let lines: Vec<&str> = summary.lines().collect();
                assert_eq!(lines.len(), 2, "{summary}");
                assert!(lines
                    .iter()
                    .any(|l| l.starts_with("- duplicate_keys [date]: 1 row(s) repeat")));
                assert!(lines
                    .iter()
                    .any(|l| l.starts_with("- non_finite_target [y]: 1 NaN or infinite")));
                assert!(!summary.contains("negative"));
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn contract_problems_skip_the_panel_checks() {
        // No target column.
        let df = clean().drop("y").unwrap();
        let report = validate(&df, None, &options()).unwrap();
        assert!(!report.ok);
        assert_eq!(checks(&report), ["missing_column"]);
        assert_eq!(report.issues[0].column.as_deref(), Some("y"));
        assert_eq!(report.n_series, 0);

        // Time as strings, target as strings.
        let df = DataFrame::new_infer_height(vec![
            Series::new("store".into(), ["A", "A"]).into_column(),
            Series::new("date".into(), ["2023-01-02", "2023-01-03"]).into_column(),
            Series::new("y".into(), ["1", "2"]).into_column(),
        ])
        .unwrap();
        let report = validate(&df, None, &options()).unwrap();
        let dtype: Vec<_> = report
            .issues
            .iter()
            .filter(|i| i.check == "dtype")
            .map(|i| i.column.as_deref().unwrap())
            .collect();
        assert_eq!(dtype, ["date", "y"]);
        assert_eq!(report.n_series, 0);

        // A null key is an error and the panel is not built.
        let df = DataFrame::new_infer_height(vec![
            Series::new("store".into(), [Some("A"), None]).into_column(),
            Series::new("date".into(), [day(0), day(1)])
                .cast(&DataType::Date)
                .unwrap()
                .into_column(),
            Series::new("y".into(), [1.0, 2.0]).into_column(),
        ])
        .unwrap();
        let report = validate(&df, None, &options()).unwrap();
        assert!(!report.ok);
        assert_eq!(checks(&report), ["nulls"]);
        assert_eq!(report.issues[0].column.as_deref(), Some("store"));
        assert_eq!(report.issues[0].examples[0].row, Some(1));
        assert_eq!(report.n_series, 0);

        // Without a panel the target's nulls are still reported, by row.
        let mut df = df;
        df.with_column(Series::new("y".into(), [None, Some(2.0)]).into_column())
            .unwrap();
        let report = validate(&df, None, &options()).unwrap();
        let target = report
            .issues
            .iter()
            .find(|i| i.column.as_deref() == Some("y"))
            .expect("the target's null reported");
        assert_eq!((target.check, target.severity), ("nulls", Severity::Error));
        assert_eq!(target.examples[0].row, Some(0));
    }

    #[test]
    fn bad_options_are_an_error_not_an_issue() {
        for (outlier, drift, name) in [
            (0.0, 0.25, "outlier_threshold"),
            (f64::NAN, 0.25, "outlier_threshold"),
            (3.5, -1.0, "drift_threshold"),
            (3.5, f64::INFINITY, "drift_threshold"),
        ] {
            let opts = ValidationOptions {
                outlier_threshold: outlier,
                drift_threshold: drift,
                ..options()
            };
            match validate(&clean(), None, &opts) {
                Err(CoreError::InvalidArgument { name: got, .. }) => assert_eq!(got, name),
                other => panic!("expected invalid {name}, got {other:?}"),
            }
        }
        // A sub-daily frequency cannot apply to a Date column.
        let opts = ValidationOptions {
            freq: Some(Frequency::Seconds(3600)),
            ..options()
        };
        assert!(matches!(
            validate(&clean(), None, &opts),
            Err(CoreError::InvalidArgument { .. })
        ));
    }

    #[test]
    fn spikes_constant_series_and_future_dates_are_warnings() {
        // A: ten values around 10 with one spike; B: constant (two values are enough).
        let a = [10.0, 11.0, 9.0, 10.0, 12.0, 10.0, 11.0, 9.0, 10.0, 500.0];
        let mut stores = vec!["A"; 10];
        stores.extend(["B"; 2]);
        let mut offsets: Vec<i32> = (0..10).collect();
        offsets.extend(0..2);
        let mut y: Vec<Option<f64>> = a.iter().copied().map(Some).collect();
        y.extend([Some(4.0); 2]);
        let df = frame(&stores, &offsets, &y);
        let opts = ValidationOptions {
            as_of: NaiveDate::from_ymd_opt(2023, 1, 9)
                .unwrap()
                .and_hms_opt(0, 0, 0),
            ..options()
        };
        let report = validate(&df, None, &opts).unwrap();
        assert!(report.ok);
        let spikes = find(&report, "outliers").expect("spike reported");
        assert_eq!(spikes.severity, Severity::Warning);
        assert_eq!(spikes.count, 1);
        assert_eq!(spikes.examples[0].row, Some(9));
        assert!(spikes.examples[0]
            .value
            .as_deref()
            .unwrap()
            .starts_with("500 (robust z "));
        let constant = find(&report, "constant_series").expect("constant series reported");
        assert_eq!(constant.count, 1);
        assert_eq!(constant.examples[0].series.as_deref(), Some("store=B"));
        assert_eq!(constant.examples[0].value.as_deref(), Some("4"));
        // A runs to 2023-01-11: its last two rows are after 2023-01-09.
        let future = find(&report, "future_dates").expect("future rows reported");
        assert_eq!(future.count, 2);
        let rows: Vec<_> = future.examples.iter().map(|e| e.row).collect();
        assert_eq!(rows, [Some(8), Some(9)]);
        // The spike is gone at a threshold above its z-score.
        let opts = ValidationOptions {
            outlier_threshold: 100.0,
            ..opts
        };
        assert!(find(&validate(&df, None, &opts).unwrap(), "outliers").is_none());
    }

    #[test]
    fn population_stability_index_hand_computed() {
        let reference: Vec<f64> = (0..10).map(f64::from).collect();
        // Identical distributions: every bin share is equal.
        assert_eq!(
            population_stability_index(&reference, &reference),
            Some(0.0)
        );
        // Ten bins of 10% each; every current value in the top bin (empty bins count 1e-4):
        // 9 * (1e-4 - 0.1) * ln(1e-4 / 0.1) + 0.9 * ln(1 / 0.1).
        let psi = population_stability_index(&reference, &[9.0; 5]).unwrap();
        let expected = 9.0 * (1e-4 - 0.1) * (1e-4f64 / 0.1).ln() + 0.9 * 10f64.ln();
        assert!((psi - expected).abs() < 1e-12, "{psi} vs {expected}");
        assert!((psi - 8.283_089_355_027_482).abs() < 1e-9);
        // Non-finite values are ignored; nothing finite means no index.
        assert_eq!(population_stability_index(&[f64::NAN], &[1.0]), None);
        assert_eq!(population_stability_index(&reference, &[]), None);
    }

    #[test]
    fn drift_against_a_reference_is_graded_by_the_threshold() {
        let days: Vec<i32> = (0..10).collect();
        let stores = ["A"; 10];
        let reference = frame(
            &stores,
            &days,
            &(0..10).map(|v| Some(f64::from(v))).collect::<Vec<_>>(),
        );
        let current = frame(&stores, &days, &[Some(9.0); 10]);
        // The current frame alone is a constant series; drift is its only other finding.
        let report = validate(&current, Some(&reference), &options()).unwrap();
        let drift = find(&report, "drift").expect("drift reported");
        assert_eq!(drift.severity, Severity::Warning);
        assert_eq!(drift.column.as_deref(), Some("y"));
        assert_eq!(drift.examples[0].value.as_deref(), Some("8.2831"));
        assert!(report.ok, "drift is never an error");
        // psi 8.28 is above threshold / 2.5 = 4 but not above 10: info only.
        let opts = ValidationOptions {
            drift_threshold: 10.0,
            ..options()
        };
        let report = validate(&current, Some(&reference), &opts).unwrap();
        assert_eq!(find(&report, "drift").unwrap().severity, Severity::Info);
        // Not above 25 / 2.5 = 10: nothing.
        let opts = ValidationOptions {
            drift_threshold: 25.0,
            ..options()
        };
        let report = validate(&current, Some(&reference), &opts).unwrap();
        assert!(find(&report, "drift").is_none());
        // Against itself nothing has drifted.
        let report = validate(&reference, Some(&reference), &options()).unwrap();
        assert!(find(&report, "drift").is_none());
        assert!(report.issues.is_empty(), "{:?}", report.issues);
    }
}
