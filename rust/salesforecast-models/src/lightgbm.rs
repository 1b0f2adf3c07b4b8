//! LightGBM through its C API.
// The C API is the only way to drive LightGBM; every unsafe block passes pointers to buffers
// that outlive the call and handles owned by RAII wrappers.
#![allow(unsafe_code)]

use crate::{
    after_round, c_string, check_labels, check_options, check_weights, logging, DenseMatrix,
    EarlyStopping, Importance, Labelled, Layout, ModelError, NativeParams, Regressor, Result,
    TrainOptions,
};
use lightgbm3_sys as ffi;
use std::collections::HashSet;
use std::ffi::{c_void, CStr};
use std::os::raw::c_char;
use std::ptr;
use std::sync::OnceLock;

const LIBRARY: &str = "LightGBM";
const DTYPE_FLOAT32: i32 = 0;
const DTYPE_FLOAT64: i32 = 1;
const PREDICT_NORMAL: i32 = 0;
const PREDICT_CONTRIB: i32 = 3;
const IMPORTANCE_SPLIT: i32 = 0;
const IMPORTANCE_GAIN: i32 = 1;

fn last_error() -> String {
    // SAFETY: LightGBM returns a pointer to a thread-local, NUL-terminated message.
    unsafe { CStr::from_ptr(ffi::LGBM_GetLastError()) }
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

/// Every parameter name and alias LightGBM knows, from the library itself.
fn known_parameters() -> &'static HashSet<String> {
    static KNOWN: OnceLock<HashSet<String>> = OnceLock::new();
    KNOWN.get_or_init(|| {
        let mut needed: i64 = 0;
        // SAFETY: a zero-length buffer is allowed; LightGBM writes only the needed size.
        unsafe { ffi::LGBM_DumpParamAliases(0, &mut needed, ptr::null_mut()) };
        let mut buf = vec![0u8; needed.max(1) as usize];
        // SAFETY: `buf` has `needed` bytes.
        unsafe {
            ffi::LGBM_DumpParamAliases(
                buf.len() as i64,
                &mut needed,
                buf.as_mut_ptr().cast::<c_char>(),
            )
        };
        let text =
            String::from_utf8_lossy(&buf[..buf.iter().position(|&b| b == 0).unwrap_or(buf.len())])
                .into_owned();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let mut names = HashSet::new();
        if let Some(map) = json.as_object() {
            for (name, aliases) in map {
                names.insert(name.clone());
                for alias in aliases.as_array().into_iter().flatten() {
                    if let Some(a) = alias.as_str() {
                        names.insert(a.to_owned());
                    }
                }
            }
        }
        names
    })
}

fn param_string(params: &NativeParams, extra: &[(String, String)]) -> Result<std::ffi::CString> {
    // LightGBM splits the joined string on whitespace and `=`: a value holding either would
    // smuggle in another parameter (a file name, say).
    if let Some((name, value)) = params.iter().chain(extra).find(|(k, v)| {
        [k, v]
            .iter()
            .any(|s| s.contains('=') || s.contains(char::is_whitespace))
    }) {
        return Err(ModelError::invalid_argument(
            "params",
            format!("`{name}={value}`: names and values may not hold whitespace or `=`"),
        ));
    }
    let known = known_parameters();
    if let Some((name, _)) = params
        .iter()
        .find(|(k, _)| !known.is_empty() && !known.contains(k))
    {
        return Err(ModelError::invalid_argument(
            "params",
            format!("LightGBM has no parameter `{name}`"),
        ));
    }
    let joined = params
        .iter()
        .chain(extra)
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    c_string("params", &joined)
}

fn row_major(x: &DenseMatrix<'_>) -> i32 {
    i32::from(x.layout() == Layout::RowMajor)
}

struct Dataset(ffi::DatasetHandle);

impl Drop for Dataset {
    fn drop(&mut self) {
        // SAFETY: the handle was created by LGBM_DatasetCreateFromMat and is freed once.
        unsafe { ffi::LGBM_DatasetFree(self.0) };
    }
}

impl Dataset {
    fn new(
        rows: &Labelled<'_>,
        params: &std::ffi::CString,
        reference: Option<&Dataset>,
        name: &str,
    ) -> Result<Self> {
        let labels = check_labels(rows, name)?;
        let weights = check_weights(rows, name)?;
        let x = rows.x;
        let mut handle: ffi::DatasetHandle = ptr::null_mut();
        // SAFETY: `x` holds n_rows * n_cols f64 values (checked by DenseMatrix::new) and stays
        // borrowed for the call; `handle` receives a new dataset.
        check(unsafe {
            ffi::LGBM_DatasetCreateFromMat(
                x.values().as_ptr().cast::<c_void>(),
                DTYPE_FLOAT64,
                x.n_rows() as i32,
                x.n_cols() as i32,
                row_major(&x),
                params.as_ptr(),
                reference.map_or(ptr::null_mut(), |r| r.0),
                &mut handle,
            )
        })?;
        let data = Dataset(handle);
        data.set_field("label", &labels)?;
        if let Some(w) = weights {
            data.set_field("weight", &w)?;
        }
        Ok(data)
    }

    fn set_field(&self, field: &str, values: &[f32]) -> Result<()> {
        let name = c_string("field", field)?;
        // SAFETY: `values` has one f32 per row and LightGBM copies it.
        check(unsafe {
            ffi::LGBM_DatasetSetField(
                self.0,
                name.as_ptr(),
                values.as_ptr().cast::<c_void>(),
                values.len() as i32,
                DTYPE_FLOAT32,
            )
        })
    }
}

/// A trained LightGBM model.
#[derive(Debug)]
pub struct LightGbm {
    handle: ffi::BoosterHandle,
    n_rounds: usize,
    n_features: usize,
    /// Threads for prediction: the training's `num_threads`, 0 (all cores) for a loaded model.
    threads: usize,
}

// SAFETY: LightGBM boosters may be used from any thread; prediction is thread-safe and
// training only happens inside `fit`, which owns the handle exclusively.
unsafe impl Send for LightGbm {}
// SAFETY: see above; `&self` methods only predict and serialise.
unsafe impl Sync for LightGbm {}

impl Drop for LightGbm {
    fn drop(&mut self) {
        // SAFETY: the handle is owned by this value and freed once.
        unsafe { ffi::LGBM_BoosterFree(self.handle) };
    }
}

impl LightGbm {
    /// Trains with LightGBM's own parameter names, one round at a time.
    pub fn fit(train: &Labelled<'_>, options: &mut TrainOptions<'_>) -> Result<Self> {
        logging::route_library_logs();
        let rounds = check_options(train, options)?;
        let categorical: Vec<(String, String)> = if options.categorical.is_empty() {
            vec![]
        } else {
            let list = options
                .categorical
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(",");
            vec![("categorical_feature".to_owned(), list)]
        };
        let params = param_string(&options.params, &categorical)?;
        let data = Dataset::new(train, &params, None, "y")?;
        let valid: Vec<Dataset> = options
            .valid
            .iter()
            .map(|v| Dataset::new(v, &params, Some(&data), "eval_set"))
            .collect::<Result<_>>()?;
        let mut handle: ffi::BoosterHandle = ptr::null_mut();
        // SAFETY: `data` is a live dataset; `handle` receives a new booster.
        check(unsafe { ffi::LGBM_BoosterCreate(data.0, params.as_ptr(), &mut handle) })?;
        let threads = options
            .params
            .iter()
            .rev()
            .find(|(k, _)| k == "num_threads")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut model = Self {
            handle,
            threads,
            n_rounds: 0,
            n_features: train.x.n_cols(),
        };
        for v in &valid {
            // SAFETY: both handles are alive; the booster keeps a reference to the dataset,
            // which outlives training.
            check(unsafe { ffi::LGBM_BoosterAddValidData(model.handle, v.0) })?;
        }
        let metric_names = if valid.is_empty() {
            vec![]
        } else {
            model.eval_names()?
        };
        let mut stopping = EarlyStopping::new(options.early_stopping_rounds);
        for round in 0..rounds as usize {
            let mut finished = 0;
            // SAFETY: the booster and its datasets are alive.
            check(unsafe { ffi::LGBM_BoosterUpdateOneIter(model.handle, &mut finished) })?;
            if finished != 0 {
                break;
            }
            model.n_rounds += 1;
            let mut metrics = Vec::new();
            for set in 0..valid.len() {
                for (name, value) in metric_names
                    .iter()
                    .zip(model.eval(set + 1, metric_names.len())?)
                {
                    metrics.push((format!("valid_{set}-{name}"), value));
                }
            }
            if let Some(keep) = after_round(
                round,
                metrics,
                metric_names.len(),
                &mut stopping,
                &mut options.callback,
            ) {
                while model.n_rounds > keep {
                    // SAFETY: live booster with more than `keep` rounds.
                    check(unsafe { ffi::LGBM_BoosterRollbackOneIter(model.handle) })?;
                    model.n_rounds -= 1;
                }
                break;
            }
        }
        Ok(model)
    }

    fn eval_names(&self) -> Result<Vec<String>> {
        let mut count = 0;
        // SAFETY: live booster.
        check(unsafe { ffi::LGBM_BoosterGetEvalCounts(self.handle, &mut count) })?;
        let n = count.max(0) as usize;
        let mut storage: Vec<Vec<u8>> = (0..n).map(|_| vec![0u8; 128]).collect();
        let mut pointers: Vec<*mut c_char> = storage
            .iter_mut()
            .map(|b| b.as_mut_ptr().cast::<c_char>())
            .collect();
        let (mut out_len, mut needed) = (0, 0usize);
        // SAFETY: `pointers` holds `n` buffers of 128 bytes each.
        check(unsafe {
            ffi::LGBM_BoosterGetEvalNames(
                self.handle,
                count,
                &mut out_len,
                128,
                &mut needed,
                pointers.as_mut_ptr(),
            )
        })?;
        Ok(storage
            .iter()
            .map(|b| {
                String::from_utf8_lossy(&b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())])
                    .into_owned()
            })
            .collect())
    }

    fn eval(&self, data_idx: usize, n: usize) -> Result<Vec<f64>> {
        let mut out = vec![0.0f64; n];
        let mut len = 0;
        // SAFETY: `out` has room for every metric.
        check(unsafe {
            ffi::LGBM_BoosterGetEval(self.handle, data_idx as i32, &mut len, out.as_mut_ptr())
        })?;
        out.truncate(len.max(0) as usize);
        Ok(out)
    }

    /// Loads a model saved in LightGBM's text format.
    pub fn from_native(bytes: &[u8]) -> Result<Self> {
        let corrupt = |message: String| ModelError::CorruptModel {
            library: LIBRARY,
            message,
        };
        let text =
            std::str::from_utf8(bytes).map_err(|e| corrupt(format!("not UTF-8 text ({e})")))?;
        // LightGBM's parser accepts a model cut after its last complete tree, so check both ends.
        let complete = text.starts_with("tree\n")
            && text.contains("\nend of trees")
            && text.trim_end().ends_with("end of parameters");
        if !complete {
            return Err(corrupt(
                "not a complete LightGBM text model (header, trees or parameters missing)".into(),
            ));
        }
        let c_text = c_string("model", text)?;
        let mut iterations = 0;
        let mut handle: ffi::BoosterHandle = ptr::null_mut();
        // SAFETY: `c_text` is NUL-terminated and outlives the call.
        let code = unsafe {
            ffi::LGBM_BoosterLoadModelFromString(c_text.as_ptr(), &mut iterations, &mut handle)
        };
        if code != 0 {
            return Err(corrupt(last_error()));
        }
        let mut model = Self {
            handle,
            threads: 0,
            n_rounds: iterations.max(0) as usize,
            n_features: 0,
        };
        let mut n = 0;
        // SAFETY: live booster.
        check(unsafe { ffi::LGBM_BoosterGetNumFeature(model.handle, &mut n) })?;
        model.n_features = n.max(0) as usize;
        Ok(model)
    }

    fn predict_kind(&self, x: &DenseMatrix<'_>, kind: i32, width: usize) -> Result<Vec<f64>> {
        if x.n_cols() != self.n_features {
            return Err(ModelError::invalid_argument(
                "X",
                format!(
                    "{} columns; the model was trained on {}",
                    x.n_cols(),
                    self.n_features
                ),
            ));
        }
        let mut out = vec![0.0f64; x.n_rows() * width];
        let mut out_len: i64 = 0;
        let params = match self.threads {
            0 => c_string("params", "")?,
            n => c_string("params", &format!("num_threads={n}"))?,
        };
        // SAFETY: `x` holds n_rows * n_cols f64 values; `out` has room for `width` values per row.
        check(unsafe {
            ffi::LGBM_BoosterPredictForMat(
                self.handle,
                x.values().as_ptr().cast::<c_void>(),
                DTYPE_FLOAT64,
                x.n_rows() as i32,
                x.n_cols() as i32,
                row_major(x),
                kind,
                0,
                -1,
                params.as_ptr(),
                &mut out_len,
                out.as_mut_ptr(),
            )
        })?;
        out.truncate(out_len.max(0) as usize);
        Ok(out)
    }
}

impl Regressor for LightGbm {
    fn library(&self) -> &'static str {
        LIBRARY
    }

    fn predict(&self, x: &DenseMatrix<'_>) -> Result<Vec<f64>> {
        self.predict_kind(x, PREDICT_NORMAL, 1)
    }

    fn contributions(&self, x: &DenseMatrix<'_>) -> Result<Vec<f64>> {
        self.predict_kind(x, PREDICT_CONTRIB, self.n_features + 1)
    }

    fn importance(&self, kind: Importance) -> Result<Vec<f64>> {
        let mut out = vec![0.0f64; self.n_features];
        let kind = match kind {
            Importance::Gain => IMPORTANCE_GAIN,
            Importance::Split => IMPORTANCE_SPLIT,
        };
        // SAFETY: `out` has one slot per feature.
        check(unsafe {
            ffi::LGBM_BoosterFeatureImportance(self.handle, 0, kind, out.as_mut_ptr())
        })?;
        Ok(out)
    }

    fn to_native(&self) -> Result<Vec<u8>> {
        let mut needed: i64 = 0;
        // SAFETY: a zero-length buffer is allowed; LightGBM reports the size it needs.
        check(unsafe {
            ffi::LGBM_BoosterSaveModelToString(
                self.handle,
                0,
                -1,
                0,
                0,
                &mut needed,
                ptr::null_mut(),
            )
        })?;
        let mut buf = vec![0u8; needed.max(1) as usize];
        // SAFETY: `buf` has `needed` bytes.
        check(unsafe {
            ffi::LGBM_BoosterSaveModelToString(
                self.handle,
                0,
                -1,
                0,
                buf.len() as i64,
                &mut needed,
                buf.as_mut_ptr().cast::<c_char>(),
            )
        })?;
        buf.truncate((needed.max(1) - 1) as usize);
        Ok(buf)
    }

    fn to_json(&self) -> Result<Vec<u8>> {
        Err(ModelError::invalid_argument(
            "format",
            "LightGBM models are saved in LightGBM's text format; JSON is XGBoost's",
        ))
    }

    fn n_rounds(&self) -> usize {
        self.n_rounds
    }

    fn n_features(&self) -> usize {
        self.n_features
    }
}
