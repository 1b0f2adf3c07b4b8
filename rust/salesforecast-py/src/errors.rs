//! The one mapping from Rust errors to the Python exception classes of `salesforecast.errors`.

use pyo3::prelude::*;
use pyo3::types::PyType;
use salesforecast_core::CoreError;
use salesforecast_io::IoError;
use salesforecast_models::ModelError;
use salesforecast_plots::PlotError;

/// A failure in a native call: either a typed error of a core crate or a caught panic.
#[derive(Debug)]
pub enum NativeError {
    Core(CoreError),
    Model(ModelError),
    Plot(PlotError),
    Io(IoError),
    Panic(String),
}

fn exception_class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    Ok(py
        .import("salesforecast.errors")?
        .getattr(name)?
        .cast_into::<PyType>()?)
}

impl NativeError {
    /// The exception class name in `salesforecast.errors`. Exhaustive on purpose: a new variant
    /// does not compile until it has a class.
    fn class_name(&self) -> &'static str {
        match self {
            Self::Core(e) => match e {
                CoreError::InvalidArgument { .. } => "InvalidArgumentError",
                CoreError::MissingColumn { .. } => "MissingColumnError",
                CoreError::ColumnType { .. } => "ColumnTypeError",
                CoreError::InvalidData { .. } => "DataError",
                CoreError::SeriesTooShort { .. } => "SeriesTooShortError",
                CoreError::Validation { .. } => "ValidationError",
                CoreError::Polars(_) => "InternalError",
            },
            Self::Model(e) => match e {
                ModelError::InvalidArgument { .. } => "InvalidArgumentError",
                ModelError::Library { .. } => "BoosterError",
                ModelError::CorruptModel { .. } => "ModelFileError",
            },
            Self::Plot(e) => match e {
                PlotError::InvalidArgument { .. } => "InvalidArgumentError",
                PlotError::Drawing(_) | PlotError::Encoding(_) => "ChartError",
            },
            Self::Io(e) => match e {
                IoError::InvalidLocation { .. } => "InvalidArgumentError",
                IoError::NotFound { .. } => "StorageNotFoundError",
                IoError::AccessDenied { .. } | IoError::LocalAccessDenied { .. } => {
                    "StorageAccessError"
                }
                IoError::Manifest { .. } => "ModelFileError",
                IoError::Store { .. } => "StorageError",
            },
            Self::Panic(_) => "InternalError",
        }
    }

    fn message(&self) -> String {
        match self {
            Self::Core(e) => e.to_string(),
            Self::Model(e) => e.to_string(),
            Self::Plot(e) => e.to_string(),
            Self::Io(e) => e.to_string(),
            Self::Panic(msg) => format!("internal error (please report it): {msg}"),
        }
    }
}

impl From<NativeError> for PyErr {
    fn from(e: NativeError) -> Self {
        Python::attach(|py| match exception_class(py, e.class_name()) {
            Ok(cls) => PyErr::from_type(cls, e.message()),
            Err(import_error) => import_error,
        })
    }
}

impl From<CoreError> for NativeError {
    fn from(e: CoreError) -> Self {
        Self::Core(e)
    }
}

impl From<PlotError> for NativeError {
    fn from(e: PlotError) -> Self {
        Self::Plot(e)
    }
}

impl From<IoError> for NativeError {
    fn from(e: IoError) -> Self {
        Self::Io(e)
    }
}

impl From<ModelError> for NativeError {
    fn from(e: ModelError) -> Self {
        Self::Model(e)
    }
}

/// Runs a native call without the GIL and turns a panic into `InternalError`.
pub fn run<T: Send, E: Into<NativeError> + Send>(
    py: Python<'_>,
    f: impl FnOnce() -> Result<T, E> + Send,
) -> PyResult<T> {
    let outcome = py.detach(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    // A Python exception raised inside the call (a Ctrl-C landing in a booster's log line, which
    // the log bridge leaves pending) is the call's outcome, not a stray error for later.
    if let Some(pending) = PyErr::take(py) {
        return Err(pending);
    }
    match outcome {
        Ok(result) => result.map_err(|e| e.into().into()),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a Rust panic".to_owned());
            Err(NativeError::Panic(msg).into())
        }
    }
}
