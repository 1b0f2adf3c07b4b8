//! `salesforecast._native`: converts Python values to core types, releases the GIL, calls the
//! core and maps its errors. No logic lives here.

mod boosters;
mod errors;
mod storage;

use chrono::{NaiveDate, NaiveDateTime};
use errors::run;
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use polars::prelude::{Column, IdxCa, IdxSize, IntoSeries};
use pyo3::prelude::*;
use pyo3_polars::{PyDataFrame, PySeries};
use salesforecast_core::baselines::{baseline_forecasts as core_baseline_forecasts, Baseline};
use salesforecast_core::conformal::{
    interval_scales as core_interval_scales, spreads, IntervalMethod,
};
use salesforecast_core::diagnostics::{residual_tests as core_residual_tests, ResidualTests};
use salesforecast_core::ensemble::{gated_weights, guard_panel, EnsembleLoss, GUARD_LIMIT};
use salesforecast_core::evaluate::{evaluate as core_evaluate, EvaluateOptions};
use salesforecast_core::features::spec::FeatureSpec;
use salesforecast_core::features::{
    build_features as core_features, build_last_features, smeared, smearing_factors,
    ExogenousRoles, FeatureOptions, StepState,
};
use salesforecast_core::freq::date_to_epoch_day;
use salesforecast_core::generate::{generate_sales as core_generate, GeneratorConfig};
use salesforecast_core::grid::{
    future_periods as core_future_periods, shift_times as core_shift_times, OutOfRange,
};
use salesforecast_core::split::{time_split as core_split, SplitOptions};
use salesforecast_core::stats::{stat_forecasts as core_stat_forecasts, StatModel};
use salesforecast_core::validate::{
    check_frame as core_check_frame, validate as core_validate, TargetRule, ValidationOptions,
};
use salesforecast_core::{with_threads, ColumnRoles, CoreError, Frequency};
use salesforecast_plots::{render_json, Canvas, Format};

/// The column roles, read from a Python `ColumnRoles` (keys resolved).
#[derive(Debug, FromPyObject)]
struct Roles {
    id: Vec<String>,
    time: String,
    target: String,
    static_features: Vec<String>,
    known_future: Vec<String>,
    past_only: Vec<String>,
}

impl Roles {
    fn columns(&self) -> Result<ColumnRoles, CoreError> {
        ColumnRoles::new(self.id.clone(), &self.time, &self.target)
    }

    fn feature_options(
        &self,
        freq: Option<&str>,
        holidays: Option<Vec<NaiveDate>>,
        float32: bool,
    ) -> Result<FeatureOptions, CoreError> {
        Ok(FeatureOptions {
            roles: self.columns()?,
            exogenous: ExogenousRoles {
                static_features: self.static_features.clone(),
                known_future: self.known_future.clone(),
                past_only: self.past_only.clone(),
            },
            freq: parse_freq(freq)?,
            holidays: holidays.map(|days| days.into_iter().map(date_to_epoch_day).collect()),
            float32,
        })
    }
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
    start: NaiveDate,
    end: NaiveDate,
    freq: &str,
    seed: u64,
    n_threads: Option<usize>,
) -> PyResult<PyDataFrame> {
    run(py, || {
        let config = GeneratorConfig {
            n_stores,
            n_products,
            start,
            end,
            freq: Frequency::parse(freq)?,
            seed,
        };
        with_threads(n_threads, || core_generate(&config))?
    })
    .map(PyDataFrame)
}

#[pyfunction]
#[pyo3(signature = (df, roles, freq, min_length, outlier_threshold, as_of, reference, drift_threshold, raise_on_error))]
#[allow(clippy::too_many_arguments)]
fn validate(
    py: Python<'_>,
    df: PyDataFrame,
    roles: Roles,
    freq: Option<&str>,
    min_length: Option<usize>,
    outlier_threshold: f64,
    as_of: NaiveDateTime,
    reference: Option<PyDataFrame>,
    drift_threshold: f64,
    raise_on_error: bool,
) -> PyResult<String> {
    run(py, || {
        let opts = ValidationOptions {
            roles: roles.columns()?,
            freq: parse_freq(freq)?,
            min_length,
            outlier_threshold,
            as_of: Some(as_of),
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
fn time_split(
    py: Python<'_>,
    df: PyDataFrame,
    roles: Roles,
    test_periods: usize,
    val_periods: usize,
    gap: usize,
    freq: Option<&str>,
) -> PyResult<Vec<PyDataFrame>> {
    let parts = run(py, || {
        let opts = SplitOptions {
            roles: roles.columns()?,
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
#[pyo3(signature = (df, spec_json, roles, freq, holidays, float32, n_threads, last_period_only=false))]
#[allow(clippy::too_many_arguments)]
fn build_features(
    py: Python<'_>,
    df: PyDataFrame,
    spec_json: &str,
    roles: Roles,
    freq: Option<&str>,
    holidays: Option<Vec<NaiveDate>>,
    float32: bool,
    n_threads: Option<usize>,
    last_period_only: bool,
) -> PyResult<(PyDataFrame, Option<PySeries>)> {
    run(py, || {
        let spec = FeatureSpec::from_json(spec_json)?;
        let options = roles.feature_options(freq, holidays, float32)?;
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

/// The longest stretch of history the spec's features read, in periods, counting only the
/// features that read at most `within` periods back when it is given.
#[pyfunction]
#[pyo3(signature = (spec_json, within=None))]
fn feature_lookback(py: Python<'_>, spec_json: &str, within: Option<usize>) -> PyResult<usize> {
    run(py, || {
        let spec = FeatureSpec::from_json(spec_json)?;
        Ok::<_, CoreError>(match within {
            Some(limit) => spec.max_lookback_within(limit),
            None => spec.max_lookback(),
        })
    })
}

/// Checks a spec's JSON form (errors name the field, `rolling[1].window`).
#[pyfunction]
fn check_features(py: Python<'_>, spec_json: &str) -> PyResult<()> {
    run(py, || FeatureSpec::from_json(spec_json).map(|_| ()))
}

/// Checks one entry of a spec's `part` under the `name` the caller wrote it as.
#[pyfunction]
fn check_feature_part(py: Python<'_>, part: &str, entry_json: &str, name: &str) -> PyResult<()> {
    run(py, || FeatureSpec::check_part(part, entry_json, name))
}

/// Refuses a spec that cannot drive a forecast of `horizon` periods (see the core's
/// `FeatureSpec::check_forecastable`).
#[pyfunction]
fn check_forecastable(
    py: Python<'_>,
    spec_json: &str,
    horizon: usize,
    recursive: bool,
    has_past_only: bool,
) -> PyResult<()> {
    run(py, || {
        FeatureSpec::from_json(spec_json)?.check_forecastable(horizon, recursive, has_past_only)
    })
}

/// Duan's smearing factors of the log1p back-transform from log-scale residuals grouped by
/// series (`sizes`): each series' and the panel's, or `None` when the spec's chain has none.
#[pyfunction]
fn log1p_smearing_factors(
    py: Python<'_>,
    spec_json: &str,
    residuals: PyReadonlyArray1<'_, f64>,
    sizes: Vec<usize>,
) -> PyResult<Option<(Vec<f64>, f64)>> {
    let residuals = residuals.as_array().to_vec();
    run(py, || {
        smearing_factors(&FeatureSpec::from_json(spec_json)?, &residuals, &sizes)
    })
}

/// Forecasts with the smearing `factors` applied to the log1p back-transform.
#[pyfunction]
fn log1p_smeared<'py>(
    py: Python<'py>,
    values: PyReadonlyArray1<'py, f64>,
    factors: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let (values, factors) = (values.as_array().to_vec(), factors.as_array().to_vec());
    Ok(run(py, || smeared(&values, &factors))?.into_pyarray(py))
}

/// The canonical form of a frequency string (pandas aliases such as `"W"` or `"MS"`
/// translated).
#[pyfunction]
fn parse_frequency(py: Python<'_>, freq: &str) -> PyResult<String> {
    run(py, || Frequency::parse(freq).map(|f| f.to_string()))
}

/// Periods in one season of the frequency (7 daily, 52 weekly, 12 monthly, 24 hourly).
#[pyfunction]
fn season_length_of(py: Python<'_>, freq: &str) -> PyResult<usize> {
    run(py, || Frequency::parse(freq).map(Frequency::season_length))
}

/// Periods in one year of the frequency (364 days, 52 weeks, 12 months), if it divides one.
#[pyfunction]
fn periods_per_year_of(py: Python<'_>, freq: &str) -> PyResult<Option<usize>> {
    run(py, || {
        Frequency::parse(freq).map(Frequency::periods_per_year)
    })
}

/// `df` checked against the data contract; `target` is what the call needs of the target
/// column (`finite`, `optional` or `unread`), `frame` the argument's name for messages.
#[pyfunction]
fn check_frame(
    py: Python<'_>,
    df: PyDataFrame,
    roles: Roles,
    freq: Option<&str>,
    target: &str,
    frame: &str,
) -> PyResult<()> {
    run(py, || {
        core_check_frame(
            &df.0,
            &roles.columns()?,
            parse_freq(freq)?,
            TargetRule::parse(target)?,
            frame,
        )
    })
}

/// `times` moved by `k` periods of `freq`; a time moved out of range is refused or null.
#[pyfunction]
fn shift_times(
    py: Python<'_>,
    times: PySeries,
    freq: &str,
    k: i64,
    outside: &str,
) -> PyResult<PySeries> {
    run(py, || {
        let column = Column::from(times.0);
        core_shift_times(
            &column,
            Frequency::parse(freq)?,
            k,
            OutOfRange::parse(outside)?,
        )
    })
    .map(|c| PySeries(c.take_materialized_series()))
}

/// The `h` periods after the end of every series: keys, time and `_step`.
#[pyfunction]
fn future_periods(
    py: Python<'_>,
    df: PyDataFrame,
    roles: Roles,
    freq: &str,
    h: usize,
) -> PyResult<PyDataFrame> {
    run(py, || {
        core_future_periods(&df.0, &roles.columns()?, Frequency::parse(freq)?, h)
    })
    .map(PyDataFrame)
}

/// A baseline's forecasts for the `h` periods after every series: keys, time, `_step`,
/// `forecast`.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn baseline_forecasts(
    py: Python<'_>,
    df: PyDataFrame,
    roles: Roles,
    freq: &str,
    kind: &str,
    parameter: usize,
    h: usize,
) -> PyResult<PyDataFrame> {
    run(py, || {
        let baseline = Baseline::parse(kind, parameter)?;
        core_baseline_forecasts(
            &df.0,
            &roles.columns()?,
            Frequency::parse(freq)?,
            baseline,
            h,
        )
    })
    .map(PyDataFrame)
}

/// A statistical model's forecasts for the `h` periods after every series, each series fitted
/// on its own history: keys, time, `_step`, `forecast`, `_form`.
#[pyfunction]
#[pyo3(signature = (df, roles, freq, kind, setting, damped, season_length, h, n_threads=None))]
#[allow(clippy::too_many_arguments)]
fn stat_forecasts(
    py: Python<'_>,
    df: PyDataFrame,
    roles: Roles,
    freq: &str,
    kind: &str,
    setting: Option<&str>,
    damped: Option<bool>,
    season_length: usize,
    h: usize,
    n_threads: Option<usize>,
) -> PyResult<PyDataFrame> {
    run(py, || {
        let model = StatModel::parse(kind, setting, damped)?;
        let (roles, freq) = (roles.columns()?, Frequency::parse(freq)?);
        with_threads(n_threads, || {
            core_stat_forecasts(&df.0, &roles, freq, &model, season_length, h)
        })?
    })
    .map(PyDataFrame)
}

/// Refuses a statistical model's settings that are not valid (the models check at construction).
#[pyfunction]
#[pyo3(signature = (kind, setting, damped))]
fn check_stat_model(
    py: Python<'_>,
    kind: &str,
    setting: Option<&str>,
    damped: Option<bool>,
) -> PyResult<()> {
    run(py, || StatModel::parse(kind, setting, damped).map(|_| ()))
}

/// Per series: the interval scale `_scale`, the recent level `_level` and the forecast floor
/// `_floor`.
#[pyfunction]
fn interval_scales(
    py: Python<'_>,
    df: PyDataFrame,
    roles: Roles,
    freq: &str,
    season_length: usize,
    level_periods: usize,
) -> PyResult<PyDataFrame> {
    run(py, || {
        core_interval_scales(
            &df.0,
            &roles.columns()?,
            Frequency::parse(freq)?,
            season_length,
            level_periods,
        )
    })
    .map(PyDataFrame)
}

/// The unit each forecast's interval is measured in (its series' scale grown with its level).
#[pyfunction]
fn interval_spreads<'py>(
    py: Python<'py>,
    forecasts: PyReadonlyArray1<'py, f64>,
    scales: PyReadonlyArray1<'py, f64>,
    levels: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let (forecasts, scales, levels) = (
        forecasts.as_array().to_vec(),
        scales.as_array().to_vec(),
        levels.as_array().to_vec(),
    );
    Ok(run(py, || spreads(&forecasts, &scales, &levels))?.into_pyarray(py))
}

#[pyfunction]
#[pyo3(signature = (forecasts, history, roles, models, levels, season_length, segment_col, cutoff_col, freq))]
#[allow(clippy::too_many_arguments)]
fn evaluate(
    py: Python<'_>,
    forecasts: PyDataFrame,
    history: Option<PyDataFrame>,
    roles: Roles,
    models: Vec<String>,
    levels: Vec<u32>,
    season_length: usize,
    segment_col: Option<String>,
    cutoff_col: Option<String>,
    freq: Option<&str>,
) -> PyResult<PyDataFrame> {
    run(py, || {
        let opts = EvaluateOptions {
            roles: roles.columns()?,
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

/// The ensemble's weights, the trust in the optimized ones, the shrunk weights fitted without
/// each window, the baseline fallen back to, and the series-windows the blend won of those
/// judged.
type EnsembleOutcome = (Vec<f64>, f64, Vec<Vec<f64>>, Option<usize>, usize, usize);

/// Ensemble weights shrunk toward a robust mix by the evidence of the calibration windows
/// (`blocks[i]`: the series and window of row `i`; `windows[i]`: its window, numbered from 0),
/// replaced by the better of the `baselines` (model indices) when the blend, weighted without
/// each window, does not beat it in most blocks.
#[pyfunction]
fn ensemble_weights(
    py: Python<'_>,
    predictions: Vec<Vec<f64>>,
    target: Vec<f64>,
    blocks: Vec<usize>,
    windows: Vec<usize>,
    baselines: Vec<usize>,
    loss: &str,
) -> PyResult<EnsembleOutcome> {
    run(py, || {
        let gated = gated_weights(
            &predictions,
            &target,
            &blocks,
            &windows,
            &baselines,
            EnsembleLoss::parse(loss)?,
        )?;
        Ok::<_, CoreError>((
            gated.weights,
            gated.shrunk.trust,
            gated.held_out,
            gated.fallback,
            gated.won,
            gated.blocks,
        ))
    })
}

/// Per series and model the distances from the consensus and from last year and whether it was
/// replaced; the consensus of every row.
type GuardOutcome = (Vec<Vec<f64>>, Vec<Vec<f64>>, Vec<Vec<bool>>, Vec<f64>);

/// The guard over every series: `forecasts[model]`, `seasonal_naive` and `last_year` hold the
/// series' rows one after another (`lengths[s]` rows for series `s`). Returns, per series and
/// model, the distances from the consensus and from last year in scale units (NaN where there
/// is no last year) and whether it was replaced, and the consensus of every row.
#[pyfunction]
fn guard_forecasts(
    py: Python<'_>,
    forecasts: Vec<Vec<f64>>,
    seasonal_naive: Vec<f64>,
    last_year: Vec<f64>,
    lengths: Vec<usize>,
    scales: Vec<f64>,
) -> PyResult<GuardOutcome> {
    run(py, || {
        let verdicts = guard_panel(&forecasts, &seasonal_naive, &last_year, &lengths, &scales)?;
        let consensus = verdicts
            .iter()
            .flat_map(|v| v.consensus.iter().copied())
            .collect();
        let mut outcome = (Vec::new(), Vec::new(), Vec::new(), consensus);
        for v in verdicts {
            outcome.0.push(v.distance);
            outcome.1.push(v.last_year_distance);
            outcome.2.push(v.replaced);
        }
        Ok::<_, CoreError>(outcome)
    })
}

/// Conformity scores of errors already divided by their series' scale.
#[pyfunction]
fn conformity_scores(
    py: Python<'_>,
    scaled_errors: PyReadonlyArray1<'_, f64>,
    method: &str,
) -> PyResult<Vec<f64>> {
    let errors = scaled_errors.as_array().to_vec();
    run(py, || {
        let method = IntervalMethod::parse(method)?;
        Ok::<_, CoreError>(errors.into_iter().map(|e| method.score(e)).collect())
    })
}

/// Interval offsets for each group of conformity scores and each level.
#[pyfunction]
fn conformal_widths(
    py: Python<'_>,
    scores: Vec<Vec<f64>>,
    levels: Vec<f64>,
    method: &str,
) -> PyResult<Vec<Vec<(f64, f64)>>> {
    run(py, || {
        IntervalMethod::parse(method)?.widths(&scores, &levels)
    })
}

/// Residual tests over independent stretches of residuals: the pooled autocorrelation up to
/// `max_lag`, Ljung-Box (Q, p) over those lags and Jarque-Bera (statistic, p).
#[pyfunction]
fn residual_tests(
    py: Python<'_>,
    stretches: Vec<Vec<f64>>,
    max_lag: usize,
) -> PyResult<ResidualTests> {
    run(py, || core_residual_tests(&stretches, max_lag))
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
    fn new(
        py: Python<'_>,
        df: PyDataFrame,
        spec_json: &str,
        roles: Roles,
        freq: Option<&str>,
        holidays: Option<Vec<NaiveDate>>,
    ) -> PyResult<Self> {
        let state = run(py, || {
            let spec = FeatureSpec::from_json(spec_json)?;
            StepState::new(&df.0, &spec, &roles.feature_options(freq, holidays, false)?)
        })?;
        Ok(Self { state })
    }

    /// Input row of each series' last row, in the order features come out.
    fn last_rows(&self) -> Vec<IdxSize> {
        self.state.last_rows().to_vec()
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

    /// Appends the next period's predictions (transformed scale, in series order) and returns
    /// them on the target's scale.
    fn push_predictions<'py>(
        &mut self,
        py: Python<'py>,
        values: PyReadonlyArray1<'py, f64>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let values = values.as_array().to_vec();
        let state = &mut self.state;
        Ok(run(py, || state.push_predictions(&values))?.into_pyarray(py))
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Rust `log` records (the boosters' own log lines among them) go to Python's `logging`.
    pyo3_log::init();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("GUARD_LIMIT", GUARD_LIMIT)?;
    m.add_function(wrap_pyfunction!(generate_sales, m)?)?;
    m.add_function(wrap_pyfunction!(validate, m)?)?;
    m.add_function(wrap_pyfunction!(time_split, m)?)?;
    m.add_function(wrap_pyfunction!(build_features, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(ensemble_weights, m)?)?;
    m.add_function(wrap_pyfunction!(guard_forecasts, m)?)?;
    m.add_function(wrap_pyfunction!(conformity_scores, m)?)?;
    m.add_function(wrap_pyfunction!(conformal_widths, m)?)?;
    m.add_function(wrap_pyfunction!(feature_lookback, m)?)?;
    m.add_function(wrap_pyfunction!(check_forecastable, m)?)?;
    m.add_function(wrap_pyfunction!(log1p_smearing_factors, m)?)?;
    m.add_function(wrap_pyfunction!(log1p_smeared, m)?)?;
    m.add_function(wrap_pyfunction!(parse_frequency, m)?)?;
    m.add_function(wrap_pyfunction!(check_frame, m)?)?;
    m.add_function(wrap_pyfunction!(check_features, m)?)?;
    m.add_function(wrap_pyfunction!(check_feature_part, m)?)?;
    m.add_function(wrap_pyfunction!(season_length_of, m)?)?;
    m.add_function(wrap_pyfunction!(periods_per_year_of, m)?)?;
    m.add_function(wrap_pyfunction!(shift_times, m)?)?;
    m.add_function(wrap_pyfunction!(future_periods, m)?)?;
    m.add_function(wrap_pyfunction!(baseline_forecasts, m)?)?;
    m.add_function(wrap_pyfunction!(stat_forecasts, m)?)?;
    m.add_function(wrap_pyfunction!(check_stat_model, m)?)?;
    m.add_function(wrap_pyfunction!(interval_scales, m)?)?;
    m.add_function(wrap_pyfunction!(interval_spreads, m)?)?;
    m.add_function(wrap_pyfunction!(residual_tests, m)?)?;
    m.add_class::<boosters::NativeBooster>()?;
    m.add_class::<FeatureStepper>()?;
    m.add_function(wrap_pyfunction!(render_chart, m)?)?;
    storage::register(m)?;
    Ok(())
}
