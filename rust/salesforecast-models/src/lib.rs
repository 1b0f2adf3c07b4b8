//! XGBoost and LightGBM behind one [`Regressor`] trait. The only crate that builds C++.

pub mod error;
mod lightgbm;
mod xgboost;

pub use error::{ModelError, Result};
pub use lightgbm::LightGbm;
pub use xgboost::XgBoost;

/// A dense row-major feature matrix borrowed from the caller: no copy on the way to the C++.
#[derive(Debug, Clone, Copy)]
pub struct DenseMatrix<'a> {
    values: &'a [f64],
    n_rows: usize,
    n_cols: usize,
}

impl<'a> DenseMatrix<'a> {
    /// Checks that `values` holds `n_rows * n_cols` numbers and the shape fits the C APIs.
    pub fn new(values: &'a [f64], n_rows: usize, n_cols: usize) -> Result<Self> {
        if n_rows.checked_mul(n_cols) != Some(values.len()) {
            return Err(ModelError::invalid_argument(
                "X",
                format!(
                    "{} values do not make a {n_rows} x {n_cols} matrix",
                    values.len()
                ),
            ));
        }
        if n_cols == 0 || i32::try_from(n_cols).is_err() || i32::try_from(n_rows).is_err() {
            return Err(ModelError::invalid_argument(
                "X",
                format!("shape {n_rows} x {n_cols} is empty or too large"),
            ));
        }
        Ok(Self {
            values,
            n_rows,
            n_cols,
        })
    }

    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    pub fn values(&self) -> &'a [f64] {
        self.values
    }
}

/// Native parameters as `name -> value` strings, passed to the library unchanged.
pub type NativeParams = Vec<(String, String)>;

/// What every booster does.
pub trait Regressor: Send + Sync + std::fmt::Debug {
    /// The library's name, for messages and manifests.
    fn library(&self) -> &'static str;
    /// Predictions for every row of `x`.
    fn predict(&self, x: &DenseMatrix<'_>) -> Result<Vec<f64>>;
    /// The model in the library's own format (LightGBM text, XGBoost UBJSON).
    fn to_native(&self) -> Result<Vec<u8>>;
    /// Number of boosting rounds in the model.
    fn n_rounds(&self) -> usize;
}

fn check_labels(y: &[f64], x: &DenseMatrix<'_>) -> Result<Vec<f32>> {
    if y.len() != x.n_rows() {
        return Err(ModelError::invalid_argument(
            "y",
            format!("{} labels for {} rows of X", y.len(), x.n_rows()),
        ));
    }
    if let Some(row) = y.iter().position(|v| !v.is_finite()) {
        return Err(ModelError::invalid_argument(
            "y",
            format!("label at row {row} is {}; labels must be finite", y[row]),
        ));
    }
    Ok(y.iter().map(|&v| v as f32).collect())
}

fn check_rounds(n_rounds: usize) -> Result<i32> {
    match i32::try_from(n_rounds) {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ModelError::invalid_argument(
            "n_estimators",
            format!("must be between 1 and {}, got {n_rounds}", i32::MAX),
        )),
    }
}

fn c_string(name: &str, value: &str) -> Result<std::ffi::CString> {
    std::ffi::CString::new(value)
        .map_err(|_| ModelError::invalid_argument(name, "contains a NUL byte"))
}
