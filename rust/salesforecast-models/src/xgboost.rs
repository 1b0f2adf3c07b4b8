//! XGBoost through its C API.
// The C API is the only way to drive XGBoost; every unsafe block passes pointers to buffers
// that outlive the call and handles owned by RAII wrappers.
#![allow(unsafe_code)]

use crate::{
    after_round, c_string, check_labels, check_options, check_weights, logging, DenseMatrix,
    EarlyStopping, Importance, Labelled, Layout, ModelError, Regressor, Result, TrainOptions,
};
use std::ffi::{c_void, CStr, CString};
use std::os::raw::c_char;
use std::ptr;
use xgboost_lib_sys as ffi;

const LIBRARY: &str = "XGBoost";

/// Parameter names XGBoost 3.4 understands for the tree boosters and regression objectives
/// (the C API has no way to list them, and unknown names are otherwise ignored silently).
const KNOWN_PARAMETERS: &[&str] = &[
    "booster",
    "device",
    "verbosity",
    "validate_parameters",
    "nthread",
    "disable_default_eval_metric",
    "seed",
    "seed_per_iteration",
    "eta",
    "learning_rate",
    "gamma",
    "min_split_loss",
    "max_depth",
    "min_child_weight",
    "max_delta_step",
    "subsample",
    "sampling_method",
    "colsample_bytree",
    "colsample_bylevel",
    "colsample_bynode",
    "lambda",
    "reg_lambda",
    "alpha",
    "reg_alpha",
    "tree_method",
    "scale_pos_weight",
    "updater",
    "refresh_leaf",
    "process_type",
    "grow_policy",
    "max_leaves",
    "max_bin",
    "num_parallel_tree",
    "monotone_constraints",
    "interaction_constraints",
    "multi_strategy",
    "max_cached_hist_node",
    "max_cat_to_onehot",
    "max_cat_threshold",
    "objective",
    "base_score",
    "eval_metric",
    "tweedie_variance_power",
    "huber_slope",
    "quantile_alpha",
    "num_class",
    "rate_drop",
    "one_drop",
    "skip_drop",
    "sample_type",
    "normalize_type",
    "feature_selector",
    "top_k",
];

fn last_error() -> String {
    // SAFETY: XGBoost returns a pointer to a thread-local, NUL-terminated message.
    unsafe { CStr::from_ptr(ffi::XGBGetLastError()) }
        .to_string_lossy()
        .into_owned()
}

fn check(code: i32) -> Result<()> {
    if code == 0 {
        Ok(())
    } else {
        Err(ModelError::Library {
            library: LIBRARY,
            message: last_error(),
        })
    }
}

/// The `__array_interface__` JSON XGBoost reads a dense f64 matrix through, without a copy.
fn array_interface(x: &DenseMatrix<'_>) -> Result<CString> {
    let strides = match x.layout() {
        Layout::RowMajor => "null".to_owned(),
        Layout::ColumnMajor => format!("[8, {}]", 8 * x.n_rows()),
    };
    let json = format!(
        r#"{{"data": [{}, true], "shape": [{}, {}], "strides": {strides}, "typestr": "<f8", "version": 3}}"#,
        x.values().as_ptr() as usize,
        x.n_rows(),
        x.n_cols()
    );
    c_string("X", &json)
}

struct Matrix(ffi::DMatrixHandle);

impl Drop for Matrix {
    fn drop(&mut self) {
        // SAFETY: the handle was created by XGDMatrixCreateFromDense and is freed once.
        unsafe { ffi::XGDMatrixFree(self.0) };
    }
}

impl Matrix {
    fn from_dense(x: &DenseMatrix<'_>, nthread: &str, feature_types: &[String]) -> Result<Self> {
        let config = c_string(
            "params",
            &format!(r#"{{"missing": NaN, "nthread": {nthread}}}"#),
        )?;
        let data = array_interface(x)?;
        let mut handle: ffi::DMatrixHandle = ptr::null_mut();
        // SAFETY: the array interface points into `x`, which outlives the call; XGBoost copies
        // what it keeps.
        check(unsafe {
            ffi::XGDMatrixCreateFromDense(data.as_ptr(), config.as_ptr(), &mut handle)
        })?;
        let m = Matrix(handle);
        if feature_types.iter().any(|t| t == "c") {
            let owned: Vec<CString> = feature_types
                .iter()
                .map(|t| c_string("feature_type", t))
                .collect::<Result<_>>()?;
            let mut ptrs: Vec<*const c_char> = owned.iter().map(|c| c.as_ptr()).collect();
            let field = c_string("field", "feature_type")?;
            // SAFETY: `ptrs` holds one NUL-terminated string per column, alive for the call.
            check(unsafe {
                ffi::XGDMatrixSetStrFeatureInfo(
                    m.0,
                    field.as_ptr(),
                    ptrs.as_mut_ptr(),
                    ptrs.len() as u64,
                )
            })?;
        }
        Ok(m)
    }

    fn labelled(
        rows: &Labelled<'_>,
        nthread: &str,
        feature_types: &[String],
        name: &str,
    ) -> Result<Self> {
        let labels = check_labels(rows, name)?;
        let weights = check_weights(rows, name)?;
        let m = Self::from_dense(&rows.x, nthread, feature_types)?;
        m.set_float("label", &labels)?;
        if let Some(w) = weights {
            m.set_float("weight", &w)?;
        }
        Ok(m)
    }

    fn set_float(&self, field: &str, values: &[f32]) -> Result<()> {
        let name = c_string("field", field)?;
        // SAFETY: `values` has one f32 per row; XGBoost copies it.
        check(unsafe {
            ffi::XGDMatrixSetFloatInfo(self.0, name.as_ptr(), values.as_ptr(), values.len() as u64)
        })
    }
}

/// A trained XGBoost model.
#[derive(Debug)]
pub struct XgBoost {
    handle: ffi::BoosterHandle,
    n_rounds: usize,
    n_features: usize,
    /// `q` (numeric) or `c` (categorical) per feature.
    feature_types: Vec<String>,
}

// SAFETY: XGBoost boosters are thread-safe for prediction; training only happens inside `fit`,
// which owns the handle exclusively.
unsafe impl Send for XgBoost {}
// SAFETY: see above.
unsafe impl Sync for XgBoost {}

impl Drop for XgBoost {
    fn drop(&mut self) {
        // SAFETY: the handle is owned by this value and freed once.
        unsafe { ffi::XGBoosterFree(self.handle) };
    }
}

impl XgBoost {
    fn create(dmats: &[ffi::DMatrixHandle]) -> Result<Self> {
        let mut handle: ffi::BoosterHandle = ptr::null_mut();
        // SAFETY: `dmats` holds live matrix handles; `handle` receives a new booster.
        check(unsafe { ffi::XGBoosterCreate(dmats.as_ptr(), dmats.len() as u64, &mut handle) })?;
        Ok(Self {
            handle,
            n_rounds: 0,
            n_features: 0,
            feature_types: vec![],
        })
    }

    fn set_param(&mut self, name: &str, value: &str) -> Result<()> {
        if !KNOWN_PARAMETERS.contains(&name) {
            return Err(ModelError::invalid_argument(
                "params",
                format!("XGBoost has no parameter `{name}`"),
            ));
        }
        let (k, v) = (c_string("params", name)?, c_string("params", value)?);
        // SAFETY: live booster; both strings are NUL-terminated.
        check(unsafe { ffi::XGBoosterSetParam(self.handle, k.as_ptr(), v.as_ptr()) })
    }

    /// Trains with XGBoost's own parameter names, one round at a time.
    pub fn fit(train: &Labelled<'_>, options: &mut TrainOptions<'_>) -> Result<Self> {
        logging::route_library_logs();
        let rounds = check_options(train, options)?;
        let nthread = options
            .params
            .iter()
            .find(|(k, _)| k == "nthread")
            .map_or("0", |(_, v)| v.as_str())
            .to_owned();
        let feature_types: Vec<String> = (0..train.x.n_cols())
            .map(|c| {
                if options.categorical.contains(&c) {
                    "c"
                } else {
                    "q"
                }
                .to_owned()
            })
            .collect();
        let dtrain = Matrix::labelled(train, &nthread, &feature_types, "y")?;
        let valid: Vec<Matrix> = options
            .valid
            .iter()
            .map(|v| Matrix::labelled(v, &nthread, &feature_types, "eval_set"))
            .collect::<Result<_>>()?;
        let mut cached: Vec<ffi::DMatrixHandle> = vec![dtrain.0];
        cached.extend(valid.iter().map(|v| v.0));
        let mut model = Self::create(&cached)?;
        model.n_features = train.x.n_cols();
        model.feature_types = feature_types;
        for (k, v) in &options.params {
            model.set_param(k, v)?;
        }
        let names: Vec<CString> = (0..valid.len())
            .map(|i| c_string("eval", &format!("valid_{i}")))
            .collect::<Result<_>>()?;
        let mut name_ptrs: Vec<*const c_char> = names.iter().map(|n| n.as_ptr()).collect();
        let mut eval_handles: Vec<ffi::DMatrixHandle> = valid.iter().map(|v| v.0).collect();
        let mut stopping = EarlyStopping::new(options.early_stopping_rounds);
        for round in 0..rounds {
            // SAFETY: live booster and training matrix.
            check(unsafe { ffi::XGBoosterUpdateOneIter(model.handle, round, dtrain.0) })?;
            model.n_rounds += 1;
            let metrics = if valid.is_empty() {
                vec![]
            } else {
                model.eval(round, &mut eval_handles, &mut name_ptrs)?
            };
            let per_set = metrics
                .iter()
                .filter(|(n, _)| n.starts_with("valid_0-"))
                .count();
            if let Some(keep) = after_round(
                round as usize,
                metrics,
                per_set,
                &mut stopping,
                &mut options.callback,
            ) {
                model.truncate(keep)?;
                break;
            }
        }
        Ok(model)
    }

    fn eval(
        &self,
        round: i32,
        dmats: &mut [ffi::DMatrixHandle],
        names: &mut [*const c_char],
    ) -> Result<Vec<(String, f64)>> {
        let mut out: *const c_char = ptr::null();
        // SAFETY: `dmats` and `names` have one entry per validation set and outlive the call.
        check(unsafe {
            ffi::XGBoosterEvalOneIter(
                self.handle,
                round,
                dmats.as_mut_ptr(),
                names.as_mut_ptr(),
                dmats.len() as u64,
                &mut out,
            )
        })?;
        // SAFETY: XGBoost returns a NUL-terminated string valid until its next call here.
        let text = unsafe { CStr::from_ptr(out) }
            .to_string_lossy()
            .into_owned();
        Ok(text
            .split('\t')
            .skip(1)
            .filter_map(|item| item.rsplit_once(':'))
            .filter_map(|(name, value)| {
                value
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .map(|v| (name.to_owned(), v))
            })
            .collect())
    }

    /// Keeps the first `rounds` rounds.
    fn truncate(&mut self, rounds: usize) -> Result<()> {
        if rounds >= self.n_rounds {
            return Ok(());
        }
        let mut sliced: ffi::BoosterHandle = ptr::null_mut();
        // SAFETY: live booster; `sliced` receives a new handle owned below.
        check(unsafe { ffi::XGBoosterSlice(self.handle, 0, rounds as i32, 1, &mut sliced) })?;
        // SAFETY: the old handle is replaced and freed exactly once.
        unsafe { ffi::XGBoosterFree(self.handle) };
        self.handle = sliced;
        self.n_rounds = rounds;
        Ok(())
    }

    /// Loads a model saved as UBJSON or JSON.
    pub fn from_native(bytes: &[u8]) -> Result<Self> {
        let corrupt = |message: String| ModelError::CorruptModel {
            library: LIBRARY,
            message,
        };
        if bytes.is_empty() {
            return Err(corrupt("empty buffer".into()));
        }
        let mut model = Self::create(&[])?;
        // SAFETY: `bytes` outlives the call.
        let code = unsafe {
            ffi::XGBoosterLoadModelFromBuffer(
                model.handle,
                bytes.as_ptr().cast::<c_void>(),
                bytes.len() as u64,
            )
        };
        if code != 0 {
            return Err(corrupt(last_error()));
        }
        let mut rounds = 0;
        let mut features = 0u64;
        // SAFETY: live booster.
        check(unsafe { ffi::XGBoosterBoostedRounds(model.handle, &mut rounds) })?;
        // SAFETY: live booster.
        check(unsafe { ffi::XGBoosterGetNumFeature(model.handle, &mut features) })?;
        if features == 0 {
            return Err(corrupt("the model has no features".into()));
        }
        model.n_rounds = rounds.max(0) as usize;
        model.n_features = features as usize;
        model.feature_types = model.stored_feature_types()?;
        Ok(model)
    }

    fn stored_feature_types(&self) -> Result<Vec<String>> {
        let field = c_string("field", "feature_type")?;
        let mut len = 0u64;
        let mut out: *mut *const c_char = ptr::null_mut();
        // SAFETY: live booster; the returned array is owned by XGBoost and copied out below.
        check(unsafe {
            ffi::XGBoosterGetStrFeatureInfo(self.handle, field.as_ptr(), &mut len, &mut out)
        })?;
        let types = (0..len as usize)
            // SAFETY: `out` holds `len` NUL-terminated strings.
            .map(|i| {
                unsafe { CStr::from_ptr(*out.add(i)) }
                    .to_string_lossy()
                    .into_owned()
            })
            .collect::<Vec<_>>();
        Ok(if types.len() == self.n_features {
            types
        } else {
            vec!["q".to_owned(); self.n_features]
        })
    }

    fn save(&self, format: &str) -> Result<Vec<u8>> {
        let config = c_string("format", &format!(r#"{{"format": "{format}"}}"#))?;
        let mut len = 0u64;
        let mut data: *const c_char = ptr::null();
        // SAFETY: XGBoost owns the returned buffer until the next call on this thread; it is
        // copied out immediately.
        check(unsafe {
            ffi::XGBoosterSaveModelToBuffer(self.handle, config.as_ptr(), &mut len, &mut data)
        })?;
        // SAFETY: `data` points to `len` bytes.
        Ok(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len as usize) }.to_vec())
    }

    fn check_width(&self, x: &DenseMatrix<'_>) -> Result<()> {
        if x.n_cols() == self.n_features {
            Ok(())
        } else {
            Err(ModelError::invalid_argument(
                "X",
                format!(
                    "{} columns; the model was trained on {}",
                    x.n_cols(),
                    self.n_features
                ),
            ))
        }
    }
}

impl Regressor for XgBoost {
    fn library(&self) -> &'static str {
        LIBRARY
    }

    fn predict(&self, x: &DenseMatrix<'_>) -> Result<Vec<f64>> {
        self.check_width(x)?;
        let data = array_interface(x)?;
        let config = c_string(
            "config",
            r#"{"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false, "missing": NaN}"#,
        )?;
        let mut shape: *const u64 = ptr::null();
        let mut dim = 0u64;
        let mut result: *const f32 = ptr::null();
        // SAFETY: the array interface points into `x`; outputs are owned by XGBoost until the
        // next call on this thread and copied out below.
        check(unsafe {
            ffi::XGBoosterPredictFromDense(
                self.handle,
                data.as_ptr(),
                config.as_ptr(),
                ptr::null_mut(),
                &mut shape,
                &mut dim,
                &mut result,
            )
        })?;
        // SAFETY: `result` holds one prediction per row for a regression model.
        let values = unsafe { std::slice::from_raw_parts(result, x.n_rows()) };
        Ok(values.iter().map(|&v| f64::from(v)).collect())
    }

    fn contributions(&self, x: &DenseMatrix<'_>) -> Result<Vec<f64>> {
        self.check_width(x)?;
        let dmat = Matrix::from_dense(x, "0", &self.feature_types)?;
        let config = c_string(
            "config",
            r#"{"type": 2, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false}"#,
        )?;
        let mut shape: *const u64 = ptr::null();
        let mut dim = 0u64;
        let mut result: *const f32 = ptr::null();
        // SAFETY: live booster and matrix; outputs copied out below.
        check(unsafe {
            ffi::XGBoosterPredictFromDMatrix(
                self.handle,
                dmat.0,
                config.as_ptr(),
                &mut shape,
                &mut dim,
                &mut result,
            )
        })?;
        let len = x.n_rows() * (self.n_features + 1);
        // SAFETY: contributions are n_rows x (n_features + 1) floats.
        let values = unsafe { std::slice::from_raw_parts(result, len) };
        Ok(values.iter().map(|&v| f64::from(v)).collect())
    }

    fn importance(&self, kind: Importance) -> Result<Vec<f64>> {
        let kind = match kind {
            Importance::Gain => "total_gain",
            Importance::Split => "weight",
        };
        let config = c_string(
            "config",
            &format!(r#"{{"importance_type": "{kind}", "feature_map": ""}}"#),
        )?;
        let (mut n, mut dim) = (0u64, 0u64);
        let mut names: *mut *const c_char = ptr::null_mut();
        let mut shape: *const u64 = ptr::null();
        let mut scores: *const f32 = ptr::null();
        // SAFETY: live booster; outputs are owned by XGBoost and copied out below.
        check(unsafe {
            ffi::XGBoosterFeatureScore(
                self.handle,
                config.as_ptr(),
                &mut n,
                &mut names,
                &mut dim,
                &mut shape,
                &mut scores,
            )
        })?;
        let mut out = vec![0.0; self.n_features];
        for i in 0..n as usize {
            // SAFETY: `names` and `scores` hold `n` entries.
            let (name, score) = unsafe {
                (
                    CStr::from_ptr(*names.add(i)).to_string_lossy().into_owned(),
                    *scores.add(i),
                )
            };
            if let Some(slot) = name
                .strip_prefix('f')
                .and_then(|k| k.parse::<usize>().ok())
                .and_then(|k| out.get_mut(k))
            {
                *slot = f64::from(score);
            }
        }
        Ok(out)
    }

    fn to_native(&self) -> Result<Vec<u8>> {
        self.save("ubj")
    }

    fn to_json(&self) -> Result<Vec<u8>> {
        self.save("json")
    }

    fn n_rounds(&self) -> usize {
        self.n_rounds
    }

    fn n_features(&self) -> usize {
        self.n_features
    }
}
