//! `NativeBooster`: a trained XGBoost or LightGBM model held by Python.

use crate::errors::run;
use numpy::{PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use salesforecast_models::{DenseMatrix, LightGbm, ModelError, NativeParams, Regressor, XgBoost};

fn matrix<'a>(x: &'a PyReadonlyArray2<'_, f64>) -> Result<DenseMatrix<'a>, ModelError> {
    let shape = x.shape();
    let values = x.as_slice().map_err(|_| ModelError::InvalidArgument {
        name: "X".into(),
        reason: "must be a C-contiguous float64 array".into(),
    })?;
    DenseMatrix::new(values, shape[0], shape[1])
}

fn unknown_library(library: &str) -> ModelError {
    ModelError::InvalidArgument {
        name: "library".into(),
        reason: format!("{library:?} is neither \"lightgbm\" nor \"xgboost\""),
    }
}

/// A trained booster. Build it with `fit` or `from_native`.
#[derive(Debug)]
#[pyclass(frozen, module = "salesforecast._native")]
pub struct NativeBooster {
    model: Box<dyn Regressor>,
}

#[pymethods]
impl NativeBooster {
    /// Trains `n_rounds` rounds of `library` ("lightgbm" or "xgboost") with native parameters.
    #[staticmethod]
    fn fit(
        py: Python<'_>,
        library: &str,
        x: PyReadonlyArray2<'_, f64>,
        y: PyReadonlyArray1<'_, f64>,
        n_rounds: usize,
        params: NativeParams,
    ) -> PyResult<Self> {
        let x = matrix(&x).map_err(crate::errors::NativeError::from)?;
        let y = y.as_slice().map_err(|_| {
            crate::errors::NativeError::from(ModelError::InvalidArgument {
                name: "y".into(),
                reason: "must be a contiguous float64 array".into(),
            })
        })?;
        let model = run(py, || -> Result<Box<dyn Regressor>, ModelError> {
            Ok(match library {
                "lightgbm" => Box::new(LightGbm::fit(&x, y, n_rounds, &params)?),
                "xgboost" => Box::new(XgBoost::fit(&x, y, n_rounds, &params)?),
                other => return Err(unknown_library(other)),
            })
        })?;
        Ok(Self { model })
    }

    /// Loads a model from the library's native bytes (LightGBM text, XGBoost UBJSON or JSON).
    #[staticmethod]
    fn from_native(py: Python<'_>, library: &str, data: &[u8]) -> PyResult<Self> {
        let model = run(py, || -> Result<Box<dyn Regressor>, ModelError> {
            Ok(match library {
                "lightgbm" => Box::new(LightGbm::from_native(data)?),
                "xgboost" => Box::new(XgBoost::from_native(data)?),
                other => return Err(unknown_library(other)),
            })
        })?;
        Ok(Self { model })
    }

    /// One prediction per row of `x`.
    fn predict(&self, py: Python<'_>, x: PyReadonlyArray2<'_, f64>) -> PyResult<Vec<f64>> {
        let x = matrix(&x).map_err(crate::errors::NativeError::from)?;
        run(py, || self.model.predict(&x))
    }

    /// The model in its library's native format.
    fn to_native<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = run(py, || self.model.to_native())?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// "LightGBM" or "XGBoost".
    #[getter]
    fn library(&self) -> &'static str {
        self.model.library()
    }

    /// Boosting rounds in the model.
    #[getter]
    fn n_rounds(&self) -> usize {
        self.model.n_rounds()
    }
}
