//! `NativeBooster`: a trained XGBoost or LightGBM model held by Python.

use crate::errors::{run, NativeError};
use numpy::{
    IntoPyArray, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2,
    PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use salesforecast_models::{
    Control, DenseMatrix, Importance, Labelled, Layout, LightGbm, ModelError, NativeParams,
    Regressor, RoundReport, TrainOptions, XgBoost,
};

fn bad(name: &str, reason: &str) -> NativeError {
    NativeError::Model(ModelError::InvalidArgument {
        name: name.into(),
        reason: reason.into(),
    })
}

/// A numpy float64 matrix as a borrowed `DenseMatrix` (C or Fortran order, no copy).
fn matrix<'a>(
    x: &'a PyReadonlyArray2<'_, f64>,
    name: &str,
) -> Result<DenseMatrix<'a>, NativeError> {
    let shape = x.shape();
    let layout = if x.is_c_contiguous() {
        Layout::RowMajor
    } else if x.is_fortran_contiguous() {
        Layout::ColumnMajor
    } else {
        return Err(bad(name, "must be a contiguous float64 array"));
    };
    let values = x
        .as_slice()
        .map_err(|_| bad(name, "must be a contiguous float64 array"))?;
    Ok(DenseMatrix::new(values, shape[0], shape[1], layout)?)
}

fn vector<'a>(v: &'a PyReadonlyArray1<'_, f64>, name: &str) -> Result<&'a [f64], NativeError> {
    v.as_slice()
        .map_err(|_| bad(name, "must be a contiguous float64 array"))
}

type EvalSet<'py> = (
    PyReadonlyArray2<'py, f64>,
    PyReadonlyArray1<'py, f64>,
    Option<PyReadonlyArray1<'py, f64>>,
);

/// A trained booster. Build it with `fit` or `from_native`.
#[derive(Debug)]
#[pyclass(frozen, module = "salesforecast._native")]
pub struct NativeBooster {
    model: Box<dyn Regressor>,
}

fn train(
    library: &str,
    rows: &Labelled<'_>,
    options: &mut TrainOptions<'_>,
) -> Result<Box<dyn Regressor>, ModelError> {
    Ok(match library {
        "lightgbm" => Box::new(LightGbm::fit(rows, options)?),
        "xgboost" => Box::new(XgBoost::fit(rows, options)?),
        other => return Err(unknown_library(other)),
    })
}

fn unknown_library(library: &str) -> ModelError {
    ModelError::InvalidArgument {
        name: "library".into(),
        reason: format!("{library:?} is neither \"lightgbm\" nor \"xgboost\""),
    }
}

#[pymethods]
impl NativeBooster {
    /// Trains `library` ("lightgbm" or "xgboost") with native parameters. `callback(round,
    /// metrics)` runs after every round; a true return stops training, and an exception it
    /// raises stops training and propagates unchanged.
    #[staticmethod]
    #[pyo3(signature = (library, x, y, n_rounds, params, sample_weight=None, eval_set=vec![], early_stopping_rounds=None, categorical=vec![], callback=None))]
    #[allow(clippy::too_many_arguments)]
    fn fit(
        py: Python<'_>,
        library: &str,
        x: PyReadonlyArray2<'_, f64>,
        y: PyReadonlyArray1<'_, f64>,
        n_rounds: usize,
        params: NativeParams,
        sample_weight: Option<PyReadonlyArray1<'_, f64>>,
        eval_set: Vec<EvalSet<'_>>,
        early_stopping_rounds: Option<usize>,
        categorical: Vec<usize>,
        callback: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let rows = Labelled {
            x: matrix(&x, "X")?,
            y: vector(&y, "y")?,
            weights: sample_weight
                .as_ref()
                .map(|w| vector(w, "sample_weight"))
                .transpose()?,
        };
        let valid = eval_set
            .iter()
            .map(|(vx, vy, vw)| {
                Ok(Labelled {
                    x: matrix(vx, "eval_set")?,
                    y: vector(vy, "eval_set")?,
                    weights: vw.as_ref().map(|w| vector(w, "eval_set")).transpose()?,
                })
            })
            .collect::<Result<Vec<_>, NativeError>>()?;
        let mut raised: Option<PyErr> = None;
        let mut on_round = |report: &RoundReport| -> Control {
            Python::attach(|py| {
                // A signal can arrive while a booster's log line runs Python logging code; the
                // log bridge then leaves the KeyboardInterrupt pending instead of the signal
                // flag, so a pending exception stops training too.
                let pending = PyErr::take(py).map_or(Ok(()), Err);
                let answer =
                    pending
                        .and_then(|()| py.check_signals())
                        .and_then(|()| match &callback {
                            None => Ok(false),
                            Some(f) => {
                                let metrics = PyDict::new(py);
                                for (name, value) in &report.metrics {
                                    metrics.set_item(name, value)?;
                                }
                                f.call1(py, (report.round, metrics))?.bind(py).is_truthy()
                            }
                        });
                match answer {
                    Ok(false) => Control::Continue,
                    Ok(true) => Control::Stop,
                    Err(e) => {
                        raised = Some(e);
                        Control::Stop
                    }
                }
            })
        };
        let mut options = TrainOptions {
            n_rounds,
            params,
            valid,
            early_stopping_rounds,
            categorical,
            callback: Some(&mut on_round),
        };
        let model = run(py, || train(library, &rows, &mut options));
        if let Some(e) = raised {
            return Err(e);
        }
        Ok(Self { model: model? })
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
        let x = matrix(&x, "X")?;
        run(py, || self.model.predict(&x))
    }

    /// TreeSHAP contributions, `n_rows x (n_features + 1)`; the last column is the bias.
    fn contributions<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f64>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let m = matrix(&x, "X")?;
        let n_rows = m.n_rows();
        let width = self.model.n_features() + 1;
        let values = run(py, || self.model.contributions(&m))?;
        let array = values.into_pyarray(py);
        array.reshape([n_rows, width])
    }

    /// Importance per feature: "gain" (total gain) or "split" (number of splits).
    fn importance(&self, py: Python<'_>, kind: &str) -> PyResult<Vec<f64>> {
        let kind = match kind {
            "gain" => Importance::Gain,
            "split" => Importance::Split,
            _ => return Err(bad("importance_type", "must be \"gain\" or \"split\"").into()),
        };
        run(py, || self.model.importance(kind))
    }

    /// The model in its library's native format; `json=True` gives XGBoost's JSON instead of
    /// UBJSON.
    #[pyo3(signature = (json=false))]
    fn to_native<'py>(&self, py: Python<'py>, json: bool) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = run(py, || {
            if json {
                self.model.to_json()
            } else {
                self.model.to_native()
            }
        })?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// "LightGBM" or "XGBoost".
    #[getter]
    fn library(&self) -> &'static str {
        self.model.library()
    }

    /// Boosting rounds in the model (the best round after early stopping).
    #[getter]
    fn n_rounds(&self) -> usize {
        self.model.n_rounds()
    }

    /// Number of features the model was trained on.
    #[getter]
    fn n_features(&self) -> usize {
        self.model.n_features()
    }
}
