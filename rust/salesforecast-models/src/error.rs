//! The one error type of the booster crate.

use thiserror::Error;

/// What can go wrong when training, predicting with, saving or loading a booster.
#[derive(Debug, Error)]
pub enum ModelError {
    /// An argument is out of range or malformed.
    #[error("invalid argument `{name}`: {reason}")]
    InvalidArgument { name: String, reason: String },

    /// The C++ library refused a call (bad parameter value, inconsistent data).
    #[error("{library}: {message}")]
    Library {
        library: &'static str,
        message: String,
    },

    /// A model file or buffer could not be read as a model of this library.
    #[error("not a valid {library} model: {message}")]
    CorruptModel {
        library: &'static str,
        message: String,
    },
}

impl ModelError {
    pub(crate) fn invalid_argument(name: &str, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            name: name.to_owned(),
            reason: reason.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, ModelError>;
