//! The one error type of the core crate. The Python binding maps each variant to an exception
//! class; messages name the argument, column, series or row at fault.

use thiserror::Error;

/// Everything that can go wrong in the core. Variants other than `Polars` are the caller's fault.
#[derive(Debug, Error)]
pub enum CoreError {
    /// An argument is out of range or malformed.
    #[error("invalid argument `{name}`: {reason}")]
    InvalidArgument { name: String, reason: String },

    /// A column the call needs is not in the frame.
    #[error("column `{column}` not found; the frame has columns [{available}]")]
    MissingColumn { column: String, available: String },

    /// A column exists but has a type the call cannot use.
    #[error("column `{column}` has dtype {found}; expected {expected}")]
    ColumnType {
        column: String,
        expected: String,
        found: String,
    },

    /// A value in the data breaks the data contract (null key, duplicate key, ...).
    #[error("invalid data in column `{column}`: {reason}")]
    InvalidData { column: String, reason: String },

    /// A series has fewer periods than the call needs.
    #[error("series {series} has {periods} periods; at least {required} are needed ({context})")]
    SeriesTooShort {
        series: String,
        periods: i64,
        required: i64,
        context: String,
    },

    /// `validate(..., raise_on_error=True)` found error-level issues.
    #[error("validation failed with {count} error(s):\n{summary}")]
    Validation { count: usize, summary: String },

    /// An unexpected failure inside polars.
    #[error("polars: {0}")]
    Polars(#[from] polars::error::PolarsError),
}

impl CoreError {
    pub(crate) fn invalid_argument(name: &str, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            name: name.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_data(column: &str, reason: impl Into<String>) -> Self {
        Self::InvalidData {
            column: column.to_owned(),
            reason: reason.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, CoreError>;
