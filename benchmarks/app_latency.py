"""Click-to-chart latency of the app's forecast page, in a real browser.

The model: the pipeline's default forecaster (LightGBM, XGBoost and seasonal naive, relative
price, conformal intervals) fitted on the demo's panel (5 stores x 10 products, 3 years daily),
saved as a bundle and served by `salesforecast ui`. Debian's Chromium (headless, over the
DevTools protocol) opens the forecast page and waits until the model is loaded and the first
chart is drawn (the cold start). Then each round clicks an option of "Intervals of" (every
click reruns the page: the series' history, scenario baseline, the forecast of every model and
the ensemble with intervals, the chart and the table) and times the click until the chart's
legend shows the new model's bands, polling the page every 5 ms. The page's own "Forecast
computed in" (the predict call alone) is read after each round.

Run: make build test-servers && .venv/bin/python benchmarks/app_latency.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.browser import CLICK_INTERVALS_OF, LEGEND, app_server, chromium

ROUNDS = 20


def main() -> None:
    from salesforecast import tasks

    cfg = tasks.config(storage_root=tempfile.mkdtemp(prefix="sf-latency-"))
    (part,) = tasks.ingest(cfg)["partitions"]
    started = time.perf_counter()
    trained = tasks.train(cfg, part)
    print(f"fitted and backtested the default forecaster in {time.perf_counter() - started:.1f} s")
    with tempfile.TemporaryDirectory() as tmp, chromium() as page:
        log = Path(tmp) / "ui.log"
        env = {**os.environ, "SALESFORECAST_BACKTEST": trained["backtest"]}
        with app_server(env, log, model=trained["bundle"]) as url:
            cold = time.perf_counter()
            page.call("Page.navigate", url=url)
            page.wait_until("document.body.innerText.includes('Download CSV')", 300, poll=0.05)
            print(f"cold start (load the bundle, first forecast and chart): "
                  f"{time.perf_counter() - cold:.2f} s")  # fmt: skip
            models = ["lightgbm", "xgboost", "seasonal_naive", "ensemble"]
            clicks, computed = [], []
            for i in range(ROUNDS):
                target = models[i % len(models)]
                expression = f"{LEGEND}.includes('{target} 80% interval')"
                start = time.perf_counter()
                page.evaluate(CLICK_INTERVALS_OF % target)
                page.wait_until(expression, 30, poll=0.005)
                clicks.append(time.perf_counter() - start)
                page.wait_until("document.body.innerText.includes('Download CSV')", 30, 0.005)
                text = page.evaluate("document.body.innerText")
                ms = text.split("Forecast computed in")[1].split("ms")[0].strip()
                computed.append(float(ms))
    print(f"{ROUNDS} clicks: click to chart median {1000 * statistics.median(clicks):.0f} ms, "
          f"max {1000 * max(clicks):.0f} ms; predict alone median "
          f"{statistics.median(computed):.0f} ms, max {max(computed):.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
