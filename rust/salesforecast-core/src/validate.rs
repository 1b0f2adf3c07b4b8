//! Data checks before anything is fitted: the data contract, gaps, outliers, drift.

use crate::error::{CoreError, Result};
use crate::freq::Frequency;
use crate::panel::{column, numeric_values, time_axis, ColumnRoles, Panel};
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

    let contract_ok = check_contract(df, roles, &mut out);
    check_nulls(df, roles, &mut out)?;
    let keys_have_nulls = out.issues.iter().any(|i| {
        i.check == "nulls"
            && i.severity == Severity::Error
            && i.column.as_deref() != Some(roles.target_col.as_str())
    });
    if contract_ok && !keys_have_nulls {
        let panel = Panel::build(df, roles)?;
        report.n_series = panel.n_series();
        if let (Some(first), Some(last)) = (panel.times.iter().min(), panel.times.iter().max()) {
            report.start = Some(panel.axis.format(*first));
            report.end = Some(panel.axis.format(*last));
        }
        let target = panel.gather_f64(numeric_values(column(df, &roles.target_col)?)?);
        check_duplicates(&panel, roles, &mut out);
        check_target_values(&panel, &target, roles, &mut out);
        if let Some(freq) = check_periods(&panel, roles, opts.freq, &mut out)? {
            report.freq = Some(freq.to_string());
        }
        check_lengths(&panel, roles, opts.min_length, &mut out);
        check_outliers(&panel, &target, roles, opts.outlier_threshold, &mut out);
        check_constant(&panel, &target, roles, &mut out);
        if let Some(as_of) = opts.as_of {
            check_future(&panel, roles, panel.axis.from_naive(as_of), &mut out);
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

/// Required columns and their dtypes. Returns whether panel checks can run.
fn check_contract(df: &DataFrame, roles: &ColumnRoles, out: &mut Collector) -> bool {
    let mut ok = true;
    let required = roles
        .id_cols
        .iter()
        .chain([&roles.time_col, &roles.target_col]);
    for name in required {
        let col = match column(df, name) {
            Ok(c) => c,
            Err(e) => {
                out.push(
                    Severity::Error,
                    "missing_column",
                    Some(name),
                    1,
                    e.to_string(),
                    vec![],
                );
                ok = false;
                continue;
            }
        };
        let dtype = col.dtype();
        let expected = if *name == roles.time_col {
            time_axis(col).is_err().then_some("Date or Datetime")
        } else if *name == roles.target_col {
            (!dtype.is_primitive_numeric()).then_some("a numeric type")
        } else {
            (!(dtype.is_string()
                || dtype.is_categorical()
                || dtype.is_integer()
                || dtype.is_enum()))
            .then_some("String, Categorical or an integer type")
        };
        if let Some(expected) = expected {
            out.push(
                Severity::Error,
                "dtype",
                Some(name),
                1,
                format!("column `{name}` has dtype {dtype}; expected {expected}"),
                vec![],
            );
            ok = false;
        }
    }
    ok
}

fn check_nulls(df: &DataFrame, roles: &ColumnRoles, out: &mut Collector) -> Result<()> {
    for col in df.columns() {
        let nulls = col.null_count();
        if nulls == 0 {
            continue;
        }
        let name = col.name().as_str();
        let required = roles.id_cols.iter().any(|c| c == name)
            || name == roles.time_col
            || name == roles.target_col;
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
    Ok(())
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

fn check_target_values(panel: &Panel, target: &[f64], roles: &ColumnRoles, out: &mut Collector) {
    let name = roles.target_col.as_str();
    let scan = |pred: &dyn Fn(f64) -> bool| {
        let mut count = 0;
        let mut examples = Vec::new();
        for s in 0..panel.n_series() {
            for pos in panel.range(s) {
                if pred(target[pos]) {
                    count += 1;
                    if examples.len() < MAX_EXAMPLES {
                        examples.push(example(panel, s, pos, Some(target[pos].to_string())));
                    }
                }
            }
        }
        (count, examples)
    };
    // Nulls became NaN and were already reported by the null check.
    let (count, examples) = scan(&|v: f64| v.is_infinite());
    if count > 0 {
        out.push(
            Severity::Error,
            "non_finite_target",
            Some(name),
            count,
            format!("{count} infinite value(s) in `{name}`"),
            examples,
        );
    }
    let (count, examples) = scan(&|v: f64| v < 0.0);
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
    let freq = match freq {
        Some(f) => {
            f.check_axis(panel.axis)?;
            f
        }
        None => match Frequency::infer(&panel.times, &panel.offsets, panel.axis) {
            Ok(f) => f,
            Err(_) => {
                out.push(
                    Severity::Info,
                    "frequency",
                    Some(&roles.time_col),
                    0,
                    "no series has two distinct times, so the frequency could not be inferred"
                        .into(),
                    vec![],
                );
                return Ok(None);
            }
        },
    };
    let (mut off_grid, mut off_grid_series, mut off_examples) = (0, 0, Vec::new());
    let (mut missing, mut gap_series, mut gap_examples) = (0i64, 0, Vec::new());
    for s in 0..panel.n_series() {
        let r = panel.range(s);
        let (mut series_off, mut series_missing) = (false, false);
        for pos in r.start + 1..r.end {
            let (a, b) = (panel.times[pos - 1], panel.times[pos]);
            if a == b {
                continue;
            }
            match freq.steps_between(a, b, panel.axis) {
                None => {
                    off_grid += 1;
                    series_off = true;
                    if off_examples.len() < MAX_EXAMPLES {
                        off_examples.push(example(panel, s, pos, None));
                    }
                }
                Some(k) if k > 1 => {
                    missing += k - 1;
                    series_missing = true;
                    if gap_examples.len() < MAX_EXAMPLES {
                        gap_examples.push(example(
                            panel,
                            s,
                            pos,
                            Some(format!("{} period(s) missing before this row", k - 1)),
                        ));
                    }
                }
                Some(_) => {}
            }
        }
        off_grid_series += usize::from(series_off);
        gap_series += usize::from(series_missing);
    }
    let time = roles.time_col.as_str();
    if off_grid > 0 {
        out.push(Severity::Error, "irregular_periods", Some(time), off_grid, format!("{off_grid} time step(s) in {off_grid_series} series are not whole multiples of {freq}"), off_examples);
    }
    if missing > 0 {
        out.push(
            Severity::Warning,
            "missing_periods",
            Some(time),
            missing as usize,
            format!("{missing} missing period(s) at {freq} in {gap_series} series"),
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

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        0.5 * (values[n / 2 - 1] + values[n / 2])
    }
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

fn check_future(panel: &Panel, roles: &ColumnRoles, as_of: i64, out: &mut Collector) {
    let (mut count, mut examples) = (0, Vec::new());
    for s in 0..panel.n_series() {
        for pos in panel.range(s) {
            if panel.times[pos] > as_of {
                count += 1;
                if examples.len() < MAX_EXAMPLES {
                    examples.push(example(panel, s, pos, None));
                }
            }
        }
    }
    if count > 0 {
        out.push(
            Severity::Warning,
            "future_dates",
            Some(&roles.time_col),
            count,
            format!(
                "{count} row(s) are dated after {}",
                panel.axis.format(as_of)
            ),
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
