"""Models trained through Rust open in the Python lightgbm and xgboost packages, and predictions,
importances and TreeSHAP contributions agree."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import xgboost as xgb

import salesforecast as sf


def make_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2000, 6))
    y = np.exp(0.3 * x[:, 0]) + x[:, 1] * x[:, 2] + rng.normal(scale=0.1, size=2000)
    return x, y


def test_lightgbm_agrees_with_python_package() -> None:
    x, y = make_data()
    ours = sf.LightGBM(n_estimators=50, objective="poisson", num_leaves=15).fit(x, np.abs(y))
    theirs = lgb.Booster(model_str=ours.to_native().decode())
    assert np.max(np.abs(theirs.predict(x) - ours.predict(x))) <= 1e-6
    gain = ours.feature_importance("gain")
    # The text format rounds split gains; the in-memory model keeps full precision.
    np.testing.assert_allclose(list(gain.values()), theirs.feature_importance("gain"), rtol=1e-6)
    split = ours.feature_importance("split")
    np.testing.assert_array_equal(list(split.values()), theirs.feature_importance("split"))
    np.testing.assert_allclose(
        ours.predict_contributions(x[:100]), theirs.predict(x[:100], pred_contrib=True), atol=1e-9
    )


def test_xgboost_agrees_with_python_package() -> None:
    x, y = make_data()
    ours = sf.XGBoost(n_estimators=50, max_depth=5).fit(x, y)
    theirs = xgb.Booster()
    theirs.load_model(bytearray(ours.to_native()))
    assert np.max(np.abs(theirs.predict(xgb.DMatrix(x)) - ours.predict(x))) <= 1e-6
    gain = theirs.get_score(importance_type="total_gain")
    ours_gain = ours.feature_importance("gain")
    for name, value in gain.items():
        assert ours_gain[name] == np.float32(value) or abs(ours_gain[name] - value) <= 1e-3 * value
    weight = theirs.get_score(importance_type="weight")
    assert {k: v for k, v in ours.feature_importance("split").items() if v} == weight
    np.testing.assert_allclose(
        ours.predict_contributions(x[:100]),
        theirs.predict(xgb.DMatrix(x[:100]), pred_contribs=True),
        atol=1e-5,
    )


def test_xgboost_json_on_request() -> None:
    x, y = make_data()
    ours = sf.XGBoost(n_estimators=10).fit(x, y)
    theirs = xgb.Booster()
    theirs.load_model(bytearray(ours.to_native(json=True)))
    assert np.max(np.abs(theirs.predict(xgb.DMatrix(x)) - ours.predict(x))) <= 1e-6
