//! `salesforecast._native`: converts Python values to core types, releases the GIL, calls the
//! core and maps its errors. No logic lives here.

mod boosters;
mod errors;
mod storage;

use chrono::{NaiveDate, NaiveDateTime};
use errors::run;
use polars::prelude::{IdxCa, IdxSize, IntoSeries};
use pyo3::prelude::*;
use pyo3_polars::{PyDataFrame, PySeries};
use salesforecast_core::conformal::{conformal_quantile, error_quantile};
use salesforecast_core::diagnostics::{jarque_bera, ljung_box, pooled_acf};
use salesforecast_core::ensemble::{optimal_weights, EnsembleLoss};
use salesforecast_core::evaluate::{evaluate as core_evaluate, EvaluateOptions};
use salesforecast_core::features::spec::FeatureSpec;
use salesforecast_core::features::{
    build_features as core_features, build_last_features, ExogenousRoles, FeatureOptions, StepState,
};
use salesforecast_core::freq::date_to_epoch_day;
use salesforecast_core::generate::{generate_sales as core_generate, GeneratorConfig};
use salesforecast_core::split::{time_split as core_split, SplitOptions};
use salesforecast_core::validate::{validate as core_validate, ValidationOptions};
use salesforecast_core::{with_threads, ColumnRoles, CoreError, Frequency};
use salesforecast_plots::{render_json, Canvas, Format};

fn parse_date(name: &str, text: &str) -> Result<NaiveDate, CoreError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|e| CoreError::InvalidArgument {
        name: name.to_owned(),
        reason: format!("{text:?} is not a YYYY-MM-DD date ({e})"),
    })
}

fn parse_datetime(name: &str, text: &str) -> Result<NaiveDateTime, CoreError> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| parse_date(name, text).map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default()))
}

/// The engine's options from the binding's arguments (holidays as YYYY-MM-DD strings).
#[allow(clippy::too_many_arguments)]
fn feature_options(
    id_cols: Vec<String>,
    time_col: &str,
    target_col: &str,
    static_features: Vec<String>,
    known_future: Vec<String>,
    past_only: Vec<String>,
    freq: Option<&str>,
    holidays: Option<Vec<String>>,
    float32: bool,
) -> Result<FeatureOptions, CoreError> {
    let holidays = holidays
        .map(|days| {
            days.iter()
                .map(|d| parse_date("holidays", d).map(date_to_epoch_day))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    Ok(FeatureOptions {
        roles: ColumnRoles::new(id_cols, time_col, target_col)?,
        exogenous: ExogenousRoles {
            static_features,
            known_future,
            past_only,
        },
        freq: parse_freq(freq)?,
        holidays,
        float32,
    })
}

fn parse_freq(freq: Option<&str>) -> Result<Option<Frequency>, CoreError> {
    freq.map(Frequency::parse).transpose()
}

#[pyfunction]
#[pyo3(signature = (n_stores, n_products, start, end, freq, seed, n_threads=None))]
#[allow(clippy::too_many_arguments)]
fn generate_sales(
    py: Python<'_>,
    n_stores: usize,
    n_products: usize,
    start: &str,
    end: &str,
    freq: &str,
    seed: u64,
    n_threads: Option<usize>,
) -> PyResult<PyDataFrame> {
    run(py, || {
        let config = GeneratorConfig {
            n_stores,
            n_products,
            start: parse_date("start", start)?,
            end: parse_date("end", end)?,
            freq: Frequency::parse(freq)?,
            seed,
        };
        with_threads(n_threads, || core_generate(&config))?
    })
    .map(PyDataFrame)
}

#[pyfunction]
#[pyo3(signature = (df, id_cols, time_col, target_col, freq, min_length, outlier_threshold, as_of, reference, drift_threshold, raise_on_error))]
#[allow(clippy::too_many_arguments)]
fn validate(
    py: Python<'_>,
    df: PyDataFrame,
    id_cols: Vec<String>,
    time_col: &str,
    target_col: &str,
    freq: Option<&str>,
    min_length: Option<usize>,
    outlier_threshold: f64,
    as_of: Option<&str>,
    reference: Option<PyDataFrame>,
    drift_threshold: f64,
    raise_on_error: bool,
) -> PyResult<String> {
    run(py, || {
        let opts = ValidationOptions {
            roles: ColumnRoles::new(id_cols, time_col, target_col)?,
            freq: parse_freq(freq)?,
            min_length,
            outlier_threshold,
            as_of: as_of.map(|t| parse_datetime("as_of", t)).transpose()?,
            drift_threshold,
        };
        let report = core_validate(&df.0, reference.as_ref().map(|r| &r.0), &opts)?;
        if raise_on_error {
            if let Some(err) = report.clone().into_error() {
                return Err(err);
            }
        }
        serde_json::to_string(&report).map_err(|e| CoreError::InvalidArgument {
            name: "df".into(),
            reason: format!("report could not be serialised: {e}"),
        })
    })
}

#[pyfunction]
#[pyo3(signature = (df, id_cols, time_col, target_col, test_periods, val_periods, gap, freq))]
#[allow(clippy::too_many_arguments)]
fn time_split(
    py: Python<'_>,
    df: PyDataFrame,
    id_cols: Vec<String>,
    time_col: &str,
    target_col: &str,
    test_periods: usize,
    val_periods: usize,
    gap: usize,
    freq: Option<&str>,
) -> PyResult<Vec<PyDataFrame>> {
    let parts = run(py, || {
        let opts = SplitOptions {
            roles: ColumnRoles::new(id_cols, time_col, target_col)?,
            test_periods,
            val_periods,
            gap,
            freq: parse_freq(freq)?,
        };
        core_split(&df.0, &opts)
    })?;
    Ok(parts.into_iter().map(PyDataFrame).collect())
}

#[pyfunction]
#[pyo3(signature = (df, spec_json, id_cols, time_col, target_col, static_features, known_future, past_only, freq, holidays, float32, n_threads, last_period_only=false))]
#[allow(clippy::too_many_arguments)]
fn build_features(
    py: Python<'_>,
    df: PyDataFrame,
    spec_json: &str,
    id_cols: Vec<String>,
    time_col: &str,
    target_col: &str,
    static_features: Vec<String>,
    known_future: Vec<String>,
    past_only: Vec<String>,
    freq: Option<&str>,
    holidays: Option<Vec<String>>,
    float32: bool,
    n_threads: Option<usize>,
    last_period_only: bool,
) -> PyResult<(PyDataFrame, Option<PySeries>)> {
    run(py, || {
        let spec = FeatureSpec::from_json(spec_json)?;
        let options = feature_options(
            id_cols,
            time_col,
            target_col,
            static_features,
            known_future,
            past_only,
            freq,
            holidays,
            float32,
        )?;
        with_threads(n_threads, || {
            if last_period_only {
                build_last_features(&df.0, &spec, &options)
            } else {
                core_features(&df.0, &spec, &options)
            }
        })?
    })
    .map(|out| {
        let order = out
            .order
            .map(|o| PySeries(IdxCa::from_vec("order".into(), o).into_series()));
        (PyDataFrame(out.columns), order)
    })
}

#[pyfunction]
#[pyo3(signature = (forecasts, history, id_cols, time_col, target_col, models, levels, season_length, segment_col, cutoff_col, freq))]
#[allow(clippy::too_many_arguments)]
fn evaluate(
    py: Python<'_>,
    forecasts: PyDataFrame,
    history: Option<PyDataFrame>,
    id_cols: Vec<String>,
    time_col: &str,
    target_col: &str,
    models: Vec<String>,
    levels: Vec<u32>,
    season_length: usize,
    segment_col: Option<String>,
    cutoff_col: Option<String>,
    freq: Option<&str>,
) -> PyResult<PyDataFrame> {
    run(py, || {
        let opts = EvaluateOptions {
            roles: ColumnRoles::new(id_cols, time_col, target_col)?,
            models,
            levels,
            season_length,
            segment_col,
            cutoff_col,
            freq: parse_freq(freq)?,
        };
        core_evaluate(&forecasts.0, history.as_ref().map(|h| &h.0), &opts)
    })
    .map(PyDataFrame)
}

#[pyfunction]
fn ensemble_weights(
    py: Python<'_>,
    predictions: Vec<Vec<f64>>,
    target: Vec<f64>,
    loss: &str,
) -> PyResult<Vec<f64>> {
    run(py, || {
        let kind = match loss {
            "squared" => EnsembleLoss::Squared,
            "absolute" => EnsembleLoss::Absolute,
            other => {
                return Err(CoreError::InvalidArgument {
                    name: "ensemble_loss".into(),
                    reason: format!("{other:?} is neither \"squared\" nor \"absolute\""),
                })
            }
        };
        optimal_weights(&predictions, &target, kind)
    })
}

/// Conformal widths: for each group of scores and each level, the finite-sample conformal
/// quantile (`method="error"`), or the lower and upper signed-error quantiles
/// (`method="distribution"`).
#[pyfunction]
fn conformal_widths(
    py: Python<'_>,
    scores: Vec<Vec<f64>>,
    levels: Vec<f64>,
    method: &str,
) -> PyResult<Vec<Vec<(f64, f64)>>> {
    run(py, || {
        scores
            .iter()
            .map(|group| {
                levels
                    .iter()
                    .map(|&level| match method {
                        "error" => conformal_quantile(group, level).map(|q| (-q, q)),
                        "distribution" => {
                            conformal_quantile(group, level)?;
                            let tail = (1.0 - level / 100.0) / 2.0;
                            Ok((error_quantile(group, tail), error_quantile(group, 1.0 - tail)))
                        }
                        other => Err(CoreError::InvalidArgument {
                            name: "interval_method".into(),
                            reason: format!("{other:?} is neither \"conformal_error\" nor \"conformal_distribution\""),
                        }),
                    })
                    .collect()
            })
            .collect()
    })
}

/// Pooled autocorrelation, (Ljung-Box Q, p), (Jarque-Bera, p) and the number of residuals.
type ResidualTests = (Vec<f64>, (f64, f64), (f64, f64), usize);

/// Residual tests over independent stretches of residuals: the pooled autocorrelation up to
/// `max_lag`, Ljung-Box (Q, p) over those lags and Jarque-Bera (statistic, p).
#[pyfunction]
fn residual_tests(
    py: Python<'_>,
    stretches: Vec<Vec<f64>>,
    max_lag: usize,
) -> PyResult<ResidualTests> {
    run(py, || {
        if max_lag == 0 {
            return Err(CoreError::InvalidArgument {
                name: "max_lag".into(),
                reason: "must be at least 1".into(),
            });
        }
        let all: Vec<f64> = stretches
            .iter()
            .flatten()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        let acf = pooled_acf(&stretches, max_lag);
        let lb = ljung_box(&acf, all.len());
        let jb = jarque_bera(&all)?;
        Ok((acf, lb, jb, all.len()))
    })
}

/// Encoded chart bytes, x range and y range of its main panel.
type RenderedChart = (Py<pyo3::types::PyBytes>, (f64, f64), (f64, f64));

/// Renders the chart `kind` described by `spec_json` as PNG or SVG bytes, with the data
/// extent (x range, y range) of its main panel.
#[pyfunction]
fn render_chart(
    py: Python<'_>,
    kind: &str,
    spec_json: &str,
    width: u32,
    height: u32,
    format: &str,
) -> PyResult<RenderedChart> {
    let chart = run(py, || {
        let format: Format = format.parse()?;
        render_json(
            kind,
            spec_json,
            Canvas {
                width,
                height,
                format,
            },
        )
    })?;
    let bytes = pyo3::types::PyBytes::new(py, &chart.bytes).unbind();
    Ok((bytes, chart.extent.x, chart.extent.y))
}

/// One recursive forecast in progress: the histories of every series, extended by `push`.
#[derive(Debug)]
#[pyclass(module = "salesforecast._native")]
struct FeatureStepper {
    state: StepState,
}

#[pymethods]
impl FeatureStepper {
    #[new]
    #[pyo3(signature = (df, spec_json, id_cols, time_col, target_col, static_features, known_future, past_only, freq, holidays))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        df: PyDataFrame,
        spec_json: &str,
        id_cols: Vec<String>,
        time_col: &str,
        target_col: &str,
        static_features: Vec<String>,
        known_future: Vec<String>,
        past_only: Vec<String>,
        freq: Option<&str>,
        holidays: Option<Vec<String>>,
    ) -> PyResult<Self> {
        let state = run(py, || {
            let spec = FeatureSpec::from_json(spec_json)?;
            let options = feature_options(
                id_cols,
                time_col,
                target_col,
                static_features,
                known_future,
                past_only,
                freq,
                holidays,
                false,
            )?;
            StepState::new(&df.0, &spec, &options)
        })?;
        Ok(Self { state })
    }

    /// Input row of each series' last row, in the order features come out.
    fn last_rows(&self) -> Vec<IdxSize> {
        self.state.last_rows.clone()
    }

    /// Features of the next period of every series; `known_future` has one list per
    /// known-future column, in series order.
    fn features(&self, py: Python<'_>, known_future: Vec<Vec<f64>>) -> PyResult<PyDataFrame> {
        run(py, || self.state.next_features(&known_future)).map(PyDataFrame)
    }

    /// An independent copy: a forecast starts from the state of the fitted history without
    /// re-reading it.
    fn __copy__(&self) -> Self {
        Self {
            state: self.state.clone(),
        }
    }

    /// Appends the next period's value of every series (raw scale).
    fn push(&mut self, py: Python<'_>, values: Vec<f64>) -> PyResult<()> {
        let state = &mut self.state;
        run(py, || state.push(&values))
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Rust `log` records (the boosters' own log lines among them) go to Python's `logging`.
    pyo3_log::init();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(generate_sales, m)?)?;
    m.add_function(wrap_pyfunction!(validate, m)?)?;
    m.add_function(wrap_pyfunction!(time_split, m)?)?;
    m.add_function(wrap_pyfunction!(build_features, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(ensemble_weights, m)?)?;
    m.add_function(wrap_pyfunction!(conformal_widths, m)?)?;
    m.add_function(wrap_pyfunction!(residual_tests, m)?)?;
    m.add_class::<boosters::NativeBooster>()?;
    m.add_class::<FeatureStepper>()?;
    m.add_function(wrap_pyfunction!(render_chart, m)?)?;
    storage::register(m)?;
    Ok(())
}
