"""Serving under load (issue M11): the champion behind `mlflow models serve`, and the app's
forecast page, each under concurrent clients for a fixed time: errors, p50 / p99 latency and
the server's memory.

The model: the pipeline's default forecaster on the demo's panel (5 stores x 10 products, 3
years daily), ingested, trained, evaluated, registered and promoted by the DAG's own task
functions against real servers on 127.0.0.1 (s3s-fs for S3, an MLflow server with SQLite).

- REST: `mlflow models serve -m models:/sales_forecast@champion` (the local environment, its
  default workers). Each client posts one series' 28 known-future rows at a time (the request
  the app and a batch job make), series in turn, and checks the answer has 28 forecasts.
- App: `salesforecast ui` with the same bundle; each client is a tab of one headless Chromium
  that opens the forecast page and then, again and again, picks another model's intervals (a
  rerun of the page: history, scenario baseline, the forecast, the chart and the table) and
  times the click until the chart's legend shows that model's bands.

An error is a non-200 answer, a wrong number of forecasts, or a page that does not show its
chart within 60 s. Memory is the resident set of the server and its child processes, sampled
every 0.5 s (peak).

Run: make build test-servers && .venv/bin/python benchmarks/serving.py [seconds] [clients]
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.browser import CLICK_INTERVALS_OF, LEGEND, app_server, chromium_tabs
from tests.servers import BUCKET, mlflow_server, models_serve, s3_server, venv_env

MODELS = ["lightgbm", "xgboost", "seasonal_naive", "ensemble"]


@dataclass
class Load:
    """Latencies and errors of every client, and the server's peak memory."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    peak_rss: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, seconds: float | None, error: str | None = None) -> None:
        with self.lock:
            if error is None and seconds is not None:
                self.latencies.append(seconds)
            else:
                self.errors.append(error or "no answer")

    def report(self, what: str, seconds: float, clients: int) -> None:
        ms = sorted(1000 * s for s in self.latencies)
        p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))] if ms else float("nan")
        print(
            f"{what}: {clients} clients x {seconds:.0f} s: {len(ms)} answers, "
            f"{len(self.errors)} errors, {len(ms) / seconds:.1f} per second; latency p50 "
            f"{statistics.median(ms) if ms else float('nan'):.0f} ms, p99 {p99:.0f} ms, max "
            f"{ms[-1] if ms else float('nan'):.0f} ms; server memory peak "
            f"{self.peak_rss / 2**20:.0f} MiB",
            flush=True,
        )
        for error in sorted(set(self.errors))[:5]:
            print(f"  error: {error[:300]}")


def resident(pid: int) -> int:
    """Bytes resident in ``pid`` and its descendants."""
    try:
        process = psutil.Process(pid)
        family = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total


def under_load(
    clients: int, seconds: float, server_pid: int, client: Callable[[int, float, Load], None]
) -> Load:
    """Runs ``client(index, deadline, load)`` in ``clients`` threads until the deadline while
    sampling the server's memory."""
    load = Load()
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=client, args=(i, deadline, load)) for i in range(clients)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        load.peak_rss = max(load.peak_rss, resident(server_pid))
        time.sleep(0.5)
    for t in threads:
        t.join()
    return load


def rest_bodies(data_uri: str, known_future: list[str]) -> list[bytes]:
    """One request per series: the known-future values of the 28 days after the registered
    model's history (the partition's last 28 days, which the pipeline holds out), dates as text
    (JSON has no dates)."""
    import polars as pl

    from salesforecast import storage

    data = storage.read_frame(data_uri)
    last = data["date"].max()
    recent = data.filter(pl.col("date") > pl.lit(last) - pl.duration(days=28)).select(
        "store_id", "product_id", pl.col("date").cast(pl.String), *known_future
    )
    bodies = []
    for _, rows in sorted(recent.group_by(["store_id", "product_id"]), key=lambda g: str(g[0])):
        split = json.loads(rows.to_pandas().to_json(orient="split", index=False))
        bodies.append(json.dumps({"dataframe_split": split}).encode())
    return bodies


def serve_rest(model_uri: str, env: dict[str, str], bodies: list[bytes], seconds: float,
               clients: int, log: Path) -> None:  # fmt: skip
    with models_serve(model_uri, env, log) as url:

        def client(index: int, deadline: float, load: Load) -> None:
            k = index
            while time.monotonic() < deadline:
                body = bodies[k % len(bodies)]
                k += clients
                request = urllib.request.Request(
                    url, data=body, headers={"Content-Type": "application/json"}
                )
                started = time.perf_counter()
                try:
                    with urllib.request.urlopen(request, timeout=60) as answer:
                        rows = json.loads(answer.read())["predictions"]
                    took = time.perf_counter() - started
                    if len(rows) != 28:
                        load.record(None, f"{len(rows)} forecasts instead of 28")
                    else:
                        load.record(took)
                except (urllib.error.URLError, OSError, ValueError, KeyError) as e:
                    load.record(None, f"{type(e).__name__}: {e}")

        started = time.perf_counter()
        warm = urllib.request.Request(
            url, data=bodies[0], headers={"Content-Type": "application/json"}
        )
        try:
            urllib.request.urlopen(warm, timeout=300).read()
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"the first request failed: {e.read().decode()[-1500:]}") from e
        print(f"REST first request: {time.perf_counter() - started:.2f} s", flush=True)
        server = next(p for p in psutil.process_iter(["cmdline"]) if served_on(p, url))
        load = under_load(clients, seconds, server.pid, client)
        load.report("REST /invocations", seconds, clients)


def served_on(process: psutil.Process, url: str) -> bool:
    """Whether ``process`` is the server started for ``url`` (its port after ``-p`` or
    ``--port``)."""
    port = url.split(":")[2].split("/")[0]
    args = process.info["cmdline"] or []
    return any(a in ("-p", "--port") and b == port for a, b in itertools.pairwise(args))


def serve_app(bundle: str, backtest: str, seconds: float, clients: int, log: Path) -> None:
    env = {**os.environ, "SALESFORECAST_BACKTEST": backtest}
    with app_server(env, log, model=bundle) as url, chromium_tabs(clients) as pages:
        server = next(p for p in psutil.process_iter(["cmdline"]) if served_on(p, url))
        for page in pages:
            page.call("Page.navigate", url=url)
        started = time.perf_counter()
        for page in pages:
            page.wait_until("document.body.innerText.includes('Download CSV')", 300, poll=0.05)
        print(f"app: {clients} sessions open in {time.perf_counter() - started:.1f} s", flush=True)

        def client(index: int, deadline: float, load: Load) -> None:
            page = pages[index]
            k, shown_now = index, "ensemble"  # the page opens on the ensemble's intervals
            while time.monotonic() < deadline:
                k += 1
                target = MODELS[k % len(MODELS)]
                if target == shown_now:  # no rerun: not a round
                    continue
                shown = f"{LEGEND}.includes('{target} 80% interval')"
                begun = time.perf_counter()
                try:
                    page.evaluate(CLICK_INTERVALS_OF % target)
                    page.wait_until(shown, 60, poll=0.01)
                    load.record(time.perf_counter() - begun)
                    shown_now = target
                except (AssertionError, RuntimeError, TimeoutError) as e:
                    load.record(None, f"{type(e).__name__}: {str(e)[:200]}")

        load = under_load(clients, seconds, server.pid, client)
        load.report("app forecast page (click to chart)", seconds, clients)


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    from salesforecast import tasks

    with tempfile.TemporaryDirectory(prefix="sf-serving-") as name:
        tmp = Path(name)
        for folder in ("s3", "mlflow"):
            (tmp / folder).mkdir()
        with s3_server(tmp / "s3") as s3, mlflow_server(tmp / "mlflow", s3) as tracking_server:
            os.environ.update(s3.env())
            os.environ["MLFLOW_TRACKING_URI"] = tracking_server.uri
            cfg = tasks.config(
                storage_root=f"s3://{BUCKET}/serving", dag_id="serving", run_id="load"
            )
            started = time.perf_counter()
            (part,) = tasks.ingest(cfg)["partitions"]
            trained = tasks.train(cfg, tasks.validate(cfg, part))
            evaluated = tasks.evaluate_partition(cfg, trained)
            promoted = tasks.promote(cfg, tasks.register(cfg, evaluated))
            assert promoted["decision"]["promoted"], promoted["decision"]
            print(f"trained, registered and promoted in {time.perf_counter() - started:.0f} s "
                  f"(version {promoted['version']})", flush=True)  # fmt: skip
            env = {**venv_env(), **s3.env(), "MLFLOW_TRACKING_URI": tracking_server.uri}
            bodies = rest_bodies(part["data"], cfg["known_future"])
            serve_rest(
                "models:/sales_forecast@champion", env, bodies, seconds, clients, tmp / "serve.log"
            )
            serve_app(trained["bundle"], trained["backtest"], seconds, clients, tmp / "ui.log")


if __name__ == "__main__":
    main()
