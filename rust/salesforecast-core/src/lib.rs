//! The pure-Rust core of salesforecast: the data contract, synthetic data, validation and
//! splits, features, and every numeric rule of forecasting (frequency steps, the period grid,
//! baselines, interval scales and conformal widths, ensemble weights, metrics, residual tests).
//! No Python here; `salesforecast-py` converts types and maps [`CoreError`] to exceptions.

pub mod baselines;
pub mod calendar;
pub mod conformal;
pub mod diagnostics;
pub mod ensemble;
pub mod error;
pub mod evaluate;
pub mod features;
pub mod freq;
pub mod generate;
pub mod grid;
pub mod metrics;
pub mod panel;
pub mod split;
pub mod stats;
#[cfg(test)]
mod test_support;
pub mod validate;

pub use error::{CoreError, Result};
pub use freq::{Frequency, TimeAxis};
pub use panel::{ColumnRoles, Panel};

/// Runs `f` on a pool of `n_threads` threads (`None`: one per core), so every parallel loop
/// inside honours the caller's thread budget.
pub fn with_threads<T: Send>(n_threads: Option<usize>, f: impl FnOnce() -> T + Send) -> Result<T> {
    match n_threads {
        None => Ok(f()),
        Some(0) => Err(CoreError::InvalidArgument {
            name: "n_threads".into(),
            reason: "must be at least 1".into(),
        }),
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| CoreError::InvalidArgument {
                    name: "n_threads".into(),
                    reason: e.to_string(),
                })?;
            Ok(pool.install(f))
        }
    }
}
