//! LightGBM through its C API.
// The C API is the only way to drive LightGBM; every unsafe block passes pointers to buffers
// that outlive the call and handles owned by RAII wrappers.
#![allow(unsafe_code)]

use crate::{
    c_string, check_labels, check_rounds, DenseMatrix, ModelError, NativeParams, Regressor, Result,
};
use lightgbm3_sys as ffi;
use std::ffi::{c_void, CStr};
use std::os::raw::c_char;
use std::ptr;

const LIBRARY: &str = "LightGBM";
const DTYPE_FLOAT32: i32 = 0;
const DTYPE_FLOAT64: i32 = 1;
const PREDICT_NORMAL: i32 = 0;

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

fn param_string(params: &NativeParams) -> Result<std::ffi::CString> {
    let joined = params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    c_string("params", &joined)
}

struct Dataset(ffi::DatasetHandle);

impl Drop for Dataset {
    fn drop(&mut self) {
        // SAFETY: the handle was created by LGBM_DatasetCreateFromMat and is freed once.
        unsafe { ffi::LGBM_DatasetFree(self.0) };
    }
}

/// A trained LightGBM model.
#[derive(Debug)]
pub struct LightGbm {
    handle: ffi::BoosterHandle,
    n_rounds: usize,
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
    /// Trains `n_rounds` rounds with LightGBM's own parameter names.
    pub fn fit(
        x: &DenseMatrix<'_>,
        y: &[f64],
        n_rounds: usize,
        params: &NativeParams,
    ) -> Result<Self> {
        let labels = check_labels(y, x)?;
        let rounds = check_rounds(n_rounds)?;
        let c_params = param_string(params)?;
        let mut data: ffi::DatasetHandle = ptr::null_mut();
        // SAFETY: `x` holds n_rows * n_cols f64 values (checked by DenseMatrix::new) and stays
        // borrowed for the call; `data` receives a new handle.
        check(unsafe {
            ffi::LGBM_DatasetCreateFromMat(
                x.values().as_ptr().cast::<c_void>(),
                DTYPE_FLOAT64,
                x.n_rows() as i32,
                x.n_cols() as i32,
                1,
                c_params.as_ptr(),
                ptr::null_mut(),
                &mut data,
            )
        })?;
        let data = Dataset(data);
        let label_name = c_string("field", "label")?;
        // SAFETY: `labels` has one f32 per row and outlives the call (LightGBM copies it).
        check(unsafe {
            ffi::LGBM_DatasetSetField(
                data.0,
                label_name.as_ptr(),
                labels.as_ptr().cast::<c_void>(),
                labels.len() as i32,
                DTYPE_FLOAT32,
            )
        })?;
        let mut handle: ffi::BoosterHandle = ptr::null_mut();
        // SAFETY: `data` is a live dataset; `handle` receives a new booster.
        check(unsafe { ffi::LGBM_BoosterCreate(data.0, c_params.as_ptr(), &mut handle) })?;
        let mut model = Self {
            handle,
            n_rounds: 0,
        };
        for _ in 0..rounds {
            let mut finished = 0;
            // SAFETY: the booster and its training data are alive.
            check(unsafe { ffi::LGBM_BoosterUpdateOneIter(model.handle, &mut finished) })?;
            if finished != 0 {
                break;
            }
            model.n_rounds += 1;
        }
        Ok(model)
    }

    /// Loads a model saved in LightGBM's text format.
    pub fn from_native(bytes: &[u8]) -> Result<Self> {
        let corrupt = |message: String| ModelError::CorruptModel {
            library: LIBRARY,
            message,
        };
        let text =
            std::str::from_utf8(bytes).map_err(|e| corrupt(format!("not UTF-8 text ({e})")))?;
        if !text.starts_with("tree\n") {
            return Err(corrupt(
                "missing the `tree` header of a LightGBM text model".into(),
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
        Ok(Self {
            handle,
            n_rounds: iterations.max(0) as usize,
        })
    }

    fn n_features(&self) -> Result<usize> {
        let mut n = 0;
        // SAFETY: live booster handle.
        check(unsafe { ffi::LGBM_BoosterGetNumFeature(self.handle, &mut n) })?;
        Ok(n.max(0) as usize)
    }
}

impl Regressor for LightGbm {
    fn library(&self) -> &'static str {
        LIBRARY
    }

    fn predict(&self, x: &DenseMatrix<'_>) -> Result<Vec<f64>> {
        let expected = self.n_features()?;
        if x.n_cols() != expected {
            return Err(ModelError::invalid_argument(
                "X",
                format!(
                    "{} columns; the model was trained on {expected}",
                    x.n_cols()
                ),
            ));
        }
        let mut out = vec![0.0f64; x.n_rows()];
        let mut out_len: i64 = 0;
        let params = c_string("params", "")?;
        // SAFETY: `x` holds n_rows * n_cols f64 values; `out` has room for one prediction per row
        // (a regression model predicts one value per row).
        check(unsafe {
            ffi::LGBM_BoosterPredictForMat(
                self.handle,
                x.values().as_ptr().cast::<c_void>(),
                DTYPE_FLOAT64,
                x.n_rows() as i32,
                x.n_cols() as i32,
                1,
                PREDICT_NORMAL,
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

    fn to_native(&self) -> Result<Vec<u8>> {
        let mut needed: i64 = 0;
        // First call with an empty buffer to learn the size, then fill.
        // SAFETY: a zero-length buffer is allowed; LightGBM writes only `needed`.
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
        // Drop the trailing NUL.
        buf.truncate((needed.max(1) - 1) as usize);
        Ok(buf)
    }

    fn n_rounds(&self) -> usize {
        self.n_rounds
    }
}
