"""The wheel as a user installs it: a fresh virtual environment with nothing but the wheel and
the dependencies it declares, then a forecast, a chart and a bundle round trip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import salesforecast as sf
df = sf.generate_sales(n_stores=1, n_products=2, start="2023-01-01", end="2023-06-30", seed=1)
train, test = sf.time_split(df, test_periods=7)
fc = sf.Forecaster([sf.LightGBM(n_estimators=10), sf.XGBoost(n_estimators=10),
                    sf.SeasonalNaive(7)], sf.FeatureSpec(lags=[7, 14]), freq="1d", horizon=7,
                   known_future=["price"], cv_windows=1)
fc.fit(train.select("store_id", "product_id", "date", "sales", "price"))
pred = fc.predict(future=test)
chart = sf.plots.forecast(pred, train, format="png")
assert chart.data[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
fc.save("bundle")
assert sf.Forecaster.load("bundle").predict(future=test).equals(pred)
print("ok", pred.height)
"""


@pytest.fixture(scope="module")
def wheel() -> Path:
    folder = os.environ.get("SALESFORECAST_WHEEL_DIR")
    if folder is None:
        pytest.fail("SALESFORECAST_WHEEL_DIR is not set: run the tests through `make py-test`")
    wheels = sorted(Path(folder).glob("salesforecast-*.whl"))
    assert wheels, f"no wheel in {folder}"
    return wheels[-1]


def test_wheel_works_in_a_bare_environment(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run(["uv", "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(["uv", "pip", "install", "-q", "--python", str(python), str(wheel)], check=True)
    # As on a user's machine: the bundled libraries only, not the build's library path.
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "PYTHONPATH")}
    done = subprocess.run(
        [str(python), "-c", SCRIPT],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["ok", "14"]
