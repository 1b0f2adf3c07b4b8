"""Synthetic data generation speed: rows per second, best and median of 5 after a warm-up.

Run: .venv/bin/python benchmarks/generate.py
"""

from __future__ import annotations

import platform
import statistics
import time

import salesforecast as sf

CASES = [
    (10, 50, "2021-01-01", "2023-12-31"),
    (100, 100, "2021-01-01", "2023-12-31"),
]


def main() -> None:
    cores = sf.models.available_threads()
    print(f"machine: {platform.processor() or platform.machine()}, {cores} cores")
    print("| stores x products x days | rows | threads | best s | median s | M rows/s (best) |")
    print("|---|---:|---:|---:|---:|---:|")
    for stores, products, start, end in CASES:
        for threads in (1, 2):
            kwargs = dict(
                n_stores=stores, n_products=products, start=start, end=end, n_threads=threads
            )
            rows = sf.generate_sales(**kwargs).height  # type: ignore[arg-type]
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                sf.generate_sales(**kwargs)  # type: ignore[arg-type]
                times.append(time.perf_counter() - t0)
            best, median = min(times), statistics.median(times)
            days = rows // (stores * products)
            print(
                f"| {stores} x {products} x {days} | {rows:,} | {threads} | {best:.3f} | "
                f"{median:.3f} | {rows / best / 1e6:.1f} |"
            )


if __name__ == "__main__":
    main()
