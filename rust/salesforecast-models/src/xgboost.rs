//! XGBoost through its C API.
// The C API is the only way to drive XGBoost; every unsafe block passes pointers to buffers
// that outlive the call and handles owned by RAII wrappers.
#![allow(unsafe_code)]

use crate::{
    c_string, check_labels, check_rounds, DenseMatrix, ModelError, NativeParams, Regressor, Result,
};
use std::ffi::{c_void, CStr};
use std::os::raw::c_char;
use std::ptr;
use xgboost_lib_sys as ffi;

const LIBRARY: &str = "XGBoost";

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
fn array_interface(x: &DenseMatrix<'_>) -> Result<std::ffi::CString> {
    let json = format!(
        r#"{{"data": [{}, true], "shape": [{}, {}], "typestr": "<f8", "version": 3}}"#,
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

/// A trained XGBoost model.
#[derive(Debug)]
pub struct XgBoost {
    handle: ffi::BoosterHandle,
    n_rounds: usize,
    n_features: usize,
}

// SAFETY: XGBoost boosters are thread-safe for prediction (`inplace_predict`); training only
// happens inside `fit`, which owns the handle exclusively.
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
        })
    }

    fn set_param(&mut self, name: &str, value: &str) -> Result<()> {
        let (k, v) = (c_string("params", name)?, c_string("params", value)?);
        // SAFETY: live booster; both strings are NUL-terminated.
        check(unsafe { ffi::XGBoosterSetParam(self.handle, k.as_ptr(), v.as_ptr()) })
    }

    /// Trains `n_rounds` rounds with XGBoost's own parameter names.
    pub fn fit(
        x: &DenseMatrix<'_>,
        y: &[f64],
        n_rounds: usize,
        params: &NativeParams,
    ) -> Result<Self> {
        let labels = check_labels(y, x)?;
        let rounds = check_rounds(n_rounds)?;
        let nthread = params
            .iter()
            .find(|(k, _)| k == "nthread")
            .map_or("0", |(_, v)| v.as_str());
        let config = c_string(
            "params",
            &format!(r#"{{"missing": NaN, "nthread": {nthread}}}"#),
        )?;
        let data = array_interface(x)?;
        let mut dmat: ffi::DMatrixHandle = ptr::null_mut();
        // SAFETY: the array interface points into `x`, which outlives the call; XGBoost copies
        // what it keeps.
        check(unsafe { ffi::XGDMatrixCreateFromDense(data.as_ptr(), config.as_ptr(), &mut dmat) })?;
        let dmat = Matrix(dmat);
        let label_name = c_string("field", "label")?;
        // SAFETY: `labels` has one f32 per row.
        check(unsafe {
            ffi::XGDMatrixSetFloatInfo(
                dmat.0,
                label_name.as_ptr(),
                labels.as_ptr(),
                labels.len() as u64,
            )
        })?;
        let mut model = Self::create(&[dmat.0])?;
        for (k, v) in params {
            model.set_param(k, v)?;
        }
        for iter in 0..rounds {
            // SAFETY: live booster and training matrix.
            check(unsafe { ffi::XGBoosterUpdateOneIter(model.handle, iter, dmat.0) })?;
            model.n_rounds += 1;
        }
        model.n_features = x.n_cols();
        Ok(model)
    }

    /// Loads a model saved as UBJSON or JSON.
    pub fn from_native(bytes: &[u8]) -> Result<Self> {
        if bytes.is_empty() {
            return Err(ModelError::CorruptModel {
                library: LIBRARY,
                message: "empty buffer".into(),
            });
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
            return Err(ModelError::CorruptModel {
                library: LIBRARY,
                message: last_error(),
            });
        }
        let mut rounds = 0;
        let mut features = 0u64;
        // SAFETY: live booster.
        check(unsafe { ffi::XGBoosterBoostedRounds(model.handle, &mut rounds) })?;
        // SAFETY: live booster.
        check(unsafe { ffi::XGBoosterGetNumFeature(model.handle, &mut features) })?;
        model.n_rounds = rounds.max(0) as usize;
        model.n_features = features as usize;
        Ok(model)
    }

    /// The model as XGBoost JSON (the default native format is UBJSON).
    pub fn to_json(&self) -> Result<Vec<u8>> {
        self.save("json")
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
}

impl Regressor for XgBoost {
    fn library(&self) -> &'static str {
        LIBRARY
    }

    fn predict(&self, x: &DenseMatrix<'_>) -> Result<Vec<f64>> {
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

    fn to_native(&self) -> Result<Vec<u8>> {
        self.save("ubj")
    }

    fn n_rounds(&self) -> usize {
        self.n_rounds
    }
}
