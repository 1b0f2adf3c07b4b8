"""A small fit alone vs the same fit beside two busy processes (what an Airflow worker running
several tasks at once looks like), with the boosters' OpenMP threads spinning (the libraries'
default, every core) vs salesforecast's defaults (passive waiting, threads sized to the rows).

The fit: sf.generate_sales N stores (argument, default 1) x 12 products, 2021-01-01 ..
2023-12-31, the README's feature spec, LightGBM + XGBoost (100 rounds) + seasonal naive,
horizon 28, 4 calibration windows. Each configuration runs in its own process (the wait
policy is read when the OpenMP runtimes load): medians of 3.

Run: make build && .venv/bin/python benchmarks/contention.py [stores]
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import subprocess
import sys
import time

FIT = """
import time, warnings, salesforecast as sf
warnings.simplefilter("ignore")
df = sf.generate_sales(n_stores={stores}, n_products=12, start="2021-01-01",
                       end="2023-12-31", seed=4)
spec = sf.FeatureSpec(lags=[7, 14, 28],
                      rolling=[sf.Rolling(window=7, stats=["mean", "std"], lag=7)],
                      calendar=["dayofweek", "month"], target_transforms=["log1p"])
threads = {threads}
fc = sf.Forecaster([sf.LightGBM(n_estimators=100, n_threads=threads),
                    sf.XGBoost(n_estimators=100, n_threads=threads), sf.SeasonalNaive()],
                   spec, freq="1d", horizon=28, static_features=["category"],
                   known_future=["price", "promo"])
t0 = time.perf_counter()
fc.fit(df)
print(time.perf_counter() - t0)
"""

CONFIGS = {
    "spinning, 2 threads (before)": ({"OMP_WAIT_POLICY": "ACTIVE"}, "2"),
    "passive, 2 threads": ({}, "2"),
    **{
        f"bounded spin (GOMP_SPINCOUNT={count}), 2 threads": (
            {"OMP_WAIT_POLICY": "", "GOMP_SPINCOUNT": str(count)},
            "2",
        )
        for count in os.environ.get("SPINCOUNTS", "10000").split(",")
    },
    "1 thread": ({}, "1"),
    "salesforecast defaults (passive, threads by rows)": ({}, "None"),
}


def spin() -> None:
    while True:
        pass


def fit_seconds(env: dict[str, str], threads: str, stores: int) -> float:
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    done = subprocess.run(
        [sys.executable, "-c", FIT.format(threads=threads, stores=stores)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    stores = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    print(f"{stores} store(s) x 12 products")
    results: dict[str, dict[str, float]] = {}
    for name, (env, threads) in CONFIGS.items():
        alone = statistics.median(fit_seconds(env, threads, stores) for _ in range(3))
        busy = [multiprocessing.Process(target=spin, daemon=True) for _ in range(2)]
        for p in busy:
            p.start()
        time.sleep(0.5)
        try:
            loaded = statistics.median(fit_seconds(env, threads, stores) for _ in range(3))
        finally:
            for p in busy:
                p.terminate()
        results[name] = {"alone": alone, "busy": loaded}
    print("| configuration | alone s | beside 2 busy processes s | ratio |")
    print("|---|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['alone']:.2f} | {r['busy']:.2f} | {r['busy'] / r['alone']:.1f}x |")


if __name__ == "__main__":
    main()
