//! XGBoost and LightGBM behind one [`Regressor`] trait. The only crate that builds C++.
//!
//! Both libraries are driven through their C APIs, one boosting round at a time, so that
//! evaluation, early stopping and a caller's per-round callback (progress, pruning, Ctrl-C) all
//! work the same way for both.

pub mod error;
mod lightgbm;
mod logging;
mod xgboost;

pub use error::{ModelError, Result};
pub use lightgbm::LightGbm;
pub use xgboost::XgBoost;

/// How a [`DenseMatrix`] lays out its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Row after row (numpy's C order).
    RowMajor,
    /// Column after column (numpy's Fortran order; what the feature engine writes).
    ColumnMajor,
}

/// A dense f64 feature matrix borrowed from the caller: no copy on the way to the C++.
/// NaN means missing.
#[derive(Debug, Clone, Copy)]
pub struct DenseMatrix<'a> {
    values: &'a [f64],
    n_rows: usize,
    n_cols: usize,
    layout: Layout,
}

impl<'a> DenseMatrix<'a> {
    /// Checks that `values` holds `n_rows * n_cols` numbers and the shape fits the C APIs.
    pub fn new(values: &'a [f64], n_rows: usize, n_cols: usize, layout: Layout) -> Result<Self> {
        if n_rows.checked_mul(n_cols) != Some(values.len()) {
            return Err(ModelError::invalid_argument(
                "X",
                format!(
                    "{} values do not make a {n_rows} x {n_cols} matrix",
                    values.len()
                ),
            ));
        }
        if n_rows == 0
            || n_cols == 0
            || i32::try_from(n_cols).is_err()
            || i32::try_from(n_rows).is_err()
        {
            return Err(ModelError::invalid_argument(
                "X",
                format!("shape {n_rows} x {n_cols} is empty or too large"),
            ));
        }
        Ok(Self {
            values,
            n_rows,
            n_cols,
            layout,
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

    pub fn layout(&self) -> Layout {
        self.layout
    }
}

/// Native parameters as `name -> value` strings, passed to the library unchanged (after a check
/// that the library knows the name).
pub type NativeParams = Vec<(String, String)>;

/// Labelled rows: features, target and optional sample weights.
#[derive(Debug, Clone, Copy)]
pub struct Labelled<'a> {
    pub x: DenseMatrix<'a>,
    pub y: &'a [f64],
    pub weights: Option<&'a [f64]>,
}

/// What a round reports to the caller's callback.
#[derive(Debug, Clone)]
pub struct RoundReport {
    /// 0-based boosting round just finished.
    pub round: usize,
    /// `(name, value)` of every metric on every validation set, e.g. `("valid_0-l2", 3.1)`.
    pub metrics: Vec<(String, f64)>,
}

/// The caller's answer after each round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Continue,
    Stop,
}

/// Everything `fit` needs besides the training rows.
pub struct TrainOptions<'a> {
    pub n_rounds: usize,
    pub params: NativeParams,
    pub valid: Vec<Labelled<'a>>,
    /// Stop when the first metric on the last validation set has not improved for this many
    /// rounds; the model keeps its best round.
    pub early_stopping_rounds: Option<usize>,
    /// Column indices holding category codes (non-negative integers).
    pub categorical: Vec<usize>,
    pub callback: Option<&'a mut (dyn FnMut(&RoundReport) -> Control + Send)>,
}

impl std::fmt::Debug for TrainOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainOptions")
            .field("n_rounds", &self.n_rounds)
            .field("params", &self.params)
            .field("valid", &self.valid.len())
            .field("early_stopping_rounds", &self.early_stopping_rounds)
            .field("categorical", &self.categorical)
            .finish_non_exhaustive()
    }
}

/// Which importance to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Importance {
    /// Total gain of the splits on each feature.
    Gain,
    /// Number of splits on each feature.
    Split,
}

/// What every booster does.
pub trait Regressor: Send + Sync + std::fmt::Debug {
    /// The library's name, for messages and manifests.
    fn library(&self) -> &'static str;
    /// Predictions for every row of `x`.
    fn predict(&self, x: &DenseMatrix<'_>) -> Result<Vec<f64>>;
    /// Per-row TreeSHAP contributions, row-major `n_rows x (n_cols + 1)`; the last column is
    /// the bias, and each row sums to the raw prediction.
    fn contributions(&self, x: &DenseMatrix<'_>) -> Result<Vec<f64>>;
    /// One importance value per feature.
    fn importance(&self, kind: Importance) -> Result<Vec<f64>>;
    /// The model in the library's own format (LightGBM text, XGBoost UBJSON).
    fn to_native(&self) -> Result<Vec<u8>>;
    /// The model as loadable JSON where the library has such a format (XGBoost); LightGBM's
    /// native format is its text format, so it refuses.
    fn to_json(&self) -> Result<Vec<u8>>;
    /// Boosting rounds in the model (the best round when early stopping triggered).
    fn n_rounds(&self) -> usize;
    /// Number of features the model was trained on.
    fn n_features(&self) -> usize;
}

fn check_labels(rows: &Labelled<'_>, name: &str) -> Result<Vec<f32>> {
    if rows.y.len() != rows.x.n_rows() {
        return Err(ModelError::invalid_argument(
            name,
            format!("{} labels for {} rows of X", rows.y.len(), rows.x.n_rows()),
        ));
    }
    if let Some(row) = rows.y.iter().position(|v| !v.is_finite()) {
        return Err(ModelError::invalid_argument(
            name,
            format!(
                "label at row {row} is {}; labels must be finite",
                rows.y[row]
            ),
        ));
    }
    Ok(rows.y.iter().map(|&v| v as f32).collect())
}

fn check_weights(rows: &Labelled<'_>, name: &str) -> Result<Option<Vec<f32>>> {
    let Some(w) = rows.weights else {
        return Ok(None);
    };
    if w.len() != rows.x.n_rows() {
        return Err(ModelError::invalid_argument(
            name,
            format!("{} weights for {} rows of X", w.len(), rows.x.n_rows()),
        ));
    }
    if let Some(row) = w.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
        return Err(ModelError::invalid_argument(
            name,
            format!(
                "weight at row {row} is {}; weights must be finite and non-negative",
                w[row]
            ),
        ));
    }
    Ok(Some(w.iter().map(|&v| v as f32).collect()))
}

fn check_options(train: &Labelled<'_>, options: &TrainOptions<'_>) -> Result<i32> {
    for (i, v) in options.valid.iter().enumerate() {
        if v.x.n_cols() != train.x.n_cols() {
            return Err(ModelError::invalid_argument(
                "eval_set",
                format!(
                    "set {i} has {} columns; X has {}",
                    v.x.n_cols(),
                    train.x.n_cols()
                ),
            ));
        }
    }
    if options.early_stopping_rounds.is_some() && options.valid.is_empty() {
        return Err(ModelError::invalid_argument(
            "early_stopping_rounds",
            "needs at least one validation set (eval_set)",
        ));
    }
    if let Some(&c) = options.categorical.iter().find(|&&c| c >= train.x.n_cols()) {
        return Err(ModelError::invalid_argument(
            "categorical",
            format!(
                "column {c} is out of range for {} columns",
                train.x.n_cols()
            ),
        ));
    }
    match i32::try_from(options.n_rounds) {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ModelError::invalid_argument(
            "n_estimators",
            format!(
                "must be between 1 and {}, got {}",
                i32::MAX,
                options.n_rounds
            ),
        )),
    }
}

fn c_string(name: &str, value: &str) -> Result<std::ffi::CString> {
    std::ffi::CString::new(value)
        .map_err(|_| ModelError::invalid_argument(name, "contains a NUL byte"))
}

/// Early stopping on the first metric of the last validation set (lower is better for every
/// regression metric both libraries report).
#[derive(Debug)]
struct EarlyStopping {
    patience: Option<usize>,
    best: Option<(usize, f64)>,
}

impl EarlyStopping {
    fn new(patience: Option<usize>) -> Self {
        Self {
            patience,
            best: None,
        }
    }

    /// Records a round; returns the best round when training should stop.
    fn update(
        &mut self,
        round: usize,
        metrics: &[(String, f64)],
        n_metrics_per_set: usize,
    ) -> Option<usize> {
        let patience = self.patience?;
        let score = metrics
            .get(metrics.len().checked_sub(n_metrics_per_set)?)?
            .1;
        match self.best {
            Some((_, best)) if score >= best => {}
            _ => self.best = Some((round, score)),
        }
        let (best_round, _) = self.best?;
        (round - best_round >= patience).then_some(best_round)
    }
}

/// Runs the per-round bookkeeping shared by both libraries: callback, then early stopping.
/// Returns `Some(rounds_to_keep)` to stop.
fn after_round(
    round: usize,
    metrics: Vec<(String, f64)>,
    n_metrics_per_set: usize,
    stopping: &mut EarlyStopping,
    callback: &mut Option<&mut (dyn FnMut(&RoundReport) -> Control + Send)>,
) -> Option<usize> {
    let best = stopping.update(round, &metrics, n_metrics_per_set);
    if let Some(cb) = callback.as_mut() {
        if cb(&RoundReport { round, metrics }) == Control::Stop {
            return Some(round + 1);
        }
    }
    best.map(|b| b + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize) -> (Vec<f64>, Vec<f64>) {
        let x: Vec<f64> = (0..n * 3)
            .map(|i| ((i * 7919) % 1000) as f64 / 100.0)
            .collect();
        let y = (0..n)
            .map(|r| 2.0 * x[r * 3] - x[r * 3 + 1] + 0.5)
            .collect();
        (x, y)
    }

    fn options(n_rounds: usize, params: &[(&str, &str)]) -> TrainOptions<'static> {
        TrainOptions {
            n_rounds,
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            valid: vec![],
            early_stopping_rounds: None,
            categorical: vec![],
            callback: None,
        }
    }

    fn both(rows: &Labelled<'_>, opts: &mut TrainOptions<'_>) -> Vec<Box<dyn Regressor>> {
        let lgb = LightGbm::fit(rows, opts).unwrap();
        let xgb = XgBoost::fit(rows, opts).unwrap();
        vec![Box::new(lgb), Box::new(xgb)]
    }

    #[test]
    fn fit_predict_roundtrip_and_contributions() {
        let (x, y) = data(500);
        let m = DenseMatrix::new(&x, 500, 3, Layout::RowMajor).unwrap();
        let rows = Labelled {
            x: m,
            y: &y,
            weights: None,
        };
        let mut opts = options(30, &[("seed", "1")]);
        for model in both(&rows, &mut opts) {
            let pred = model.predict(&m).unwrap();
            let mse: f64 = pred
                .iter()
                .zip(&y)
                .map(|(p, t)| (p - t) * (p - t))
                .sum::<f64>()
                / 500.0;
            assert!(mse < 1.0, "{} mse {mse}", model.library());
            let contrib = model.contributions(&m).unwrap();
            for r in 0..500 {
                let sum: f64 = contrib[r * 4..r * 4 + 4].iter().sum();
                assert!(
                    (sum - pred[r]).abs() < 1e-4,
                    "{}: {sum} vs {}",
                    model.library(),
                    pred[r]
                );
            }
            let native = model.to_native().unwrap();
            let again: Box<dyn Regressor> = if model.library() == "LightGBM" {
                Box::new(LightGbm::from_native(&native).unwrap())
            } else {
                Box::new(XgBoost::from_native(&native).unwrap())
            };
            assert_eq!(again.predict(&m).unwrap(), pred);
            assert_eq!(again.n_features(), 3);
            let gain = model.importance(Importance::Gain).unwrap();
            assert_eq!(gain.len(), 3);
            assert!(gain[0] > gain[2], "{}: {gain:?}", model.library());
        }
    }

    #[test]
    fn column_major_equals_row_major() {
        let (x, y) = data(200);
        let col: Vec<f64> = (0..3)
            .flat_map(|c| (0..200).map(move |r| (r, c)))
            .map(|(r, c)| x[r * 3 + c])
            .collect();
        let rm = DenseMatrix::new(&x, 200, 3, Layout::RowMajor).unwrap();
        let cm = DenseMatrix::new(&col, 200, 3, Layout::ColumnMajor).unwrap();
        let mut opts = options(10, &[]);
        for model in both(
            &Labelled {
                x: rm,
                y: &y,
                weights: None,
            },
            &mut opts,
        ) {
            assert_eq!(model.predict(&rm).unwrap(), model.predict(&cm).unwrap());
        }
    }

    #[test]
    fn early_stopping_keeps_the_best_round_and_callback_can_stop() {
        let (x, y) = data(400);
        let m = DenseMatrix::new(&x, 400, 3, Layout::RowMajor).unwrap();
        let (vx, vy) = data(100);
        let vm = DenseMatrix::new(&vx, 100, 3, Layout::RowMajor).unwrap();
        let noisy: Vec<f64> = vy
            .iter()
            .enumerate()
            .map(|(i, v)| v + if i % 2 == 0 { 5.0 } else { -5.0 })
            .collect();
        let rows = Labelled {
            x: m,
            y: &y,
            weights: None,
        };
        let mut seen = 0;
        let mut cb = |r: &RoundReport| {
            seen = r.round + 1;
            assert!(!r.metrics.is_empty());
            Control::Continue
        };
        let mut opts = TrainOptions {
            valid: vec![Labelled {
                x: vm,
                y: &noisy,
                weights: None,
            }],
            early_stopping_rounds: Some(5),
            callback: Some(&mut cb),
            ..options(500, &[("learning_rate", "0.3")])
        };
        let lgb = LightGbm::fit(&rows, &mut opts).unwrap();
        assert!(lgb.n_rounds() < 500);
        let mut stop_at_3 = |r: &RoundReport| {
            if r.round == 2 {
                Control::Stop
            } else {
                Control::Continue
            }
        };
        let mut opts = TrainOptions {
            callback: Some(&mut stop_at_3),
            ..options(100, &[])
        };
        assert_eq!(XgBoost::fit(&rows, &mut opts).unwrap().n_rounds(), 3);
        let mut stop_at_3 = |r: &RoundReport| {
            if r.round == 2 {
                Control::Stop
            } else {
                Control::Continue
            }
        };
        let mut opts = TrainOptions {
            callback: Some(&mut stop_at_3),
            ..options(100, &[])
        };
        assert_eq!(LightGbm::fit(&rows, &mut opts).unwrap().n_rounds(), 3);
        assert!(seen > 5);
    }

    #[test]
    fn same_seed_same_bytes() {
        let (x, y) = data(300);
        let m = DenseMatrix::new(&x, 300, 3, Layout::RowMajor).unwrap();
        let rows = Labelled {
            x: m,
            y: &y,
            weights: None,
        };
        let params = [("seed", "7"), ("subsample", "0.7")];
        let a = XgBoost::fit(&rows, &mut options(20, &params))
            .unwrap()
            .to_native()
            .unwrap();
        let b = XgBoost::fit(&rows, &mut options(20, &params))
            .unwrap()
            .to_native()
            .unwrap();
        assert_eq!(a, b);
        let lparams = [
            ("seed", "7"),
            ("bagging_fraction", "0.7"),
            ("bagging_freq", "1"),
            ("deterministic", "true"),
        ];
        let a = LightGbm::fit(&rows, &mut options(20, &lparams))
            .unwrap()
            .to_native()
            .unwrap();
        let b = LightGbm::fit(&rows, &mut options(20, &lparams))
            .unwrap()
            .to_native()
            .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let (x, mut y) = data(50);
        let m = DenseMatrix::new(&x, 50, 3, Layout::RowMajor).unwrap();
        assert!(DenseMatrix::new(&x, 49, 3, Layout::RowMajor).is_err());
        y[3] = f64::NAN;
        let rows = Labelled {
            x: m,
            y: &y,
            weights: None,
        };
        assert!(matches!(
            LightGbm::fit(&rows, &mut options(5, &[])),
            Err(ModelError::InvalidArgument { .. })
        ));
        y[3] = 1.0;
        let rows = Labelled {
            x: m,
            y: &y,
            weights: None,
        };
        for params in [[("no_such_param", "1")], [("learning_rte", "0.1")]] {
            assert!(matches!(
                LightGbm::fit(&rows, &mut options(5, &params)),
                Err(ModelError::InvalidArgument { .. })
            ));
            assert!(matches!(
                XgBoost::fit(&rows, &mut options(5, &params)),
                Err(ModelError::InvalidArgument { .. })
            ));
        }
        assert!(matches!(
            LightGbm::fit(&rows, &mut options(5, &[("num_leaves", "-3")])),
            Err(ModelError::Library { .. })
        ));
        for garbage in [
            &b""[..],
            b"tree\nnonsense=1\n",
            b"\x00\x01\x02garbage",
            b"{\"learner\": 3}",
        ] {
            assert!(LightGbm::from_native(garbage).is_err());
            assert!(XgBoost::from_native(garbage).is_err());
        }
        let model = LightGbm::fit(&rows, &mut options(5, &[])).unwrap();
        let text = model.to_native().unwrap();
        assert!(LightGbm::from_native(&text[..text.len() / 2]).is_err());
        let xgb = XgBoost::fit(&rows, &mut options(5, &[]))
            .unwrap()
            .to_native()
            .unwrap();
        assert!(XgBoost::from_native(&xgb[..xgb.len() / 2]).is_err());
    }
}
