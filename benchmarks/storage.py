"""Bundle save + load of a 10,000-series forecaster: the loopback S3 server (s3s-fs, the one the
tests use) vs the local disk, through the same code path.

The forecaster: LightGBM (100 rounds) + seasonal naive on 10,000 series x 1,000 days (the
predict benchmark's panel), lags 7/14/28 and a rolling mean; its bundle holds the booster, the
10 M-row training history as parquet and the conformity scores. Each location: one warm-up, then
5 alternating rounds of save + load; medians and bests reported.

Run: make build test-servers && .venv/bin/python benchmarks/storage.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from features import make_panel
from tests.servers import BUCKET, s3_server

ROUNDS = 5


def main() -> None:
    import salesforecast as sf

    df = make_panel(10_000, 1_000)
    fc = sf.Forecaster(
        [sf.LightGBM(n_estimators=100), sf.SeasonalNaive()],
        sf.FeatureSpec(lags=[7, 14, 28], rolling=[sf.Rolling(window=7, lag=7)]),
        freq="1d",
        horizon=28,
        cv_windows=1,
        id_col="unique_id",
        time_col="ds",
        target_col="y",
    )
    started = time.perf_counter()
    fc.fit(df)
    print(f"fitted 10,000 series x 1,000 days in {time.perf_counter() - started:.1f} s")
    with tempfile.TemporaryDirectory() as tmp, s3_server(Path(tmp) / "s3") as s3:
        os.environ.update(s3.env())
        places = {
            "local disk": str(Path(tmp) / "bundle"),
            "S3 (s3s-fs, loopback)": f"s3://{BUCKET}/bundle",
        }
        times: dict[str, dict[str, list[float]]] = {p: {"save": [], "load": []} for p in places}
        for round_ in range(ROUNDS + 1):
            for place, uri in places.items():
                t0 = time.perf_counter()
                digest = fc.save(uri)
                t1 = time.perf_counter()
                sf.Forecaster.load(uri, digest=digest)
                t2 = time.perf_counter()
                if round_:
                    times[place]["save"].append(t1 - t0)
                    times[place]["load"].append(t2 - t1)
        size = sum(p.stat().st_size for p in (Path(tmp) / "bundle").rglob("*") if p.is_file())
        print(f"bundle size {size / 2**20:.1f} MiB")
        print("| location | save median s | load median s | save + load median s | best s |")
        print("|---|---:|---:|---:|---:|")
        totals = {}
        for place, t in times.items():
            total = [a + b for a, b in zip(t["save"], t["load"], strict=True)]
            totals[place] = statistics.median(total)
            save, load = statistics.median(t["save"]), statistics.median(t["load"])
            print(f"| {place} | {save:.2f} | {load:.2f} | {totals[place]:.2f} | {min(total):.2f} |")
        local, remote = totals.values()
        print(f"S3 / local (medians): {remote / local:.2f}x (goal: within 1.5x)")


if __name__ == "__main__":
    main()
