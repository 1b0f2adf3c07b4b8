"""Storage and bundles through a real S3 server (s3s-fs on 127.0.0.1, SigV4 checked) and the
local disk, through the same code path."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

import salesforecast as sf
from salesforecast import storage
from salesforecast.errors import (
    InvalidArgumentError,
    ModelFileError,
    StorageAccessError,
    StorageError,
    StorageNotFoundError,
)
from tests.servers import BUCKET, SECRET_KEY, S3Server, s3_server, wait_for


def small_forecaster() -> sf.Forecaster:
    return sf.Forecaster(
        [sf.LightGBM(n_estimators=30), sf.SeasonalNaive(season_length=7)],
        sf.FeatureSpec(lags=[7, 14], calendar=["dayofweek"]),
        freq="1d",
        horizon=7,
        cv_windows=1,
        static_features=["category"],
    )


@pytest.fixture(scope="module")
def fitted() -> tuple[sf.Forecaster, pl.DataFrame]:
    df = sf.generate_sales(n_stores=2, n_products=3, start="2023-01-01", end="2023-06-30", seed=3)
    with pytest.warns(sf.errors.UndeclaredColumnsWarning):
        fc = small_forecaster().fit(df)
    return fc, fc.predict()


def test_bytes_frames_and_listing_on_s3(s3_env: S3Server) -> None:
    run = f"s3://{BUCKET}/runs/dag/run-1"
    storage.write_bytes(f"{run}/a.txt", b"hello")
    frame = pl.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]})
    storage.write_frame(frame, f"{run}/frames/f.parquet")
    storage.write_frame(frame, f"{run}/frames/f.csv")
    assert storage.read_bytes(f"{run}/a.txt") == b"hello"
    assert storage.read_frame(f"{run}/frames/f.parquet").equals(frame)
    assert storage.read_frame(f"{run}/frames/f.csv").equals(frame)
    assert storage.list(run) == ["a.txt", "frames/f.csv", "frames/f.parquet"]
    assert storage.exists(f"{run}/a.txt")
    assert not storage.exists(f"{run}/b.txt")
    # The object really is on the server's disk.
    assert (s3_env.root / BUCKET / "runs/dag/run-1/a.txt").read_bytes() == b"hello"
    with pytest.raises(StorageNotFoundError, match=r"b\.txt"):
        storage.read_bytes(f"{run}/b.txt")
    storage.delete_prefix(run)
    assert storage.list(run) == []


def test_read_sales_from_s3(s3_env: S3Server) -> None:
    df = sf.generate_sales(n_stores=1, n_products=2, start="2023-01-01", end="2023-01-31")
    storage.write_frame(df, f"s3://{BUCKET}/data/sales.csv")
    back = sf.read_sales(f"s3://{BUCKET}/data/sales.csv")
    assert back.height == df.height
    assert back["date"].dtype == pl.Date


def test_wrong_secret_names_the_bucket_not_the_secret(
    s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "sf-WRONG-secret-0000"
    for key, value in s3.env(secret=wrong).items():
        monkeypatch.setenv(key, value)
    with pytest.raises(StorageAccessError) as info:
        storage.write_bytes(f"s3://{BUCKET}/x.txt", b"x")
    message = str(info.value)
    assert BUCKET in message
    assert wrong not in message
    assert SECRET_KEY not in message
    with pytest.raises(StorageAccessError):
        storage.read_bytes(f"s3://{BUCKET}/x.txt")


def test_bundle_round_trip_through_s3(
    s3_env: S3Server, fitted: tuple[sf.Forecaster, pl.DataFrame]
) -> None:
    fc, pred = fitted
    uri = f"s3://{BUCKET}/models/demo"
    digest = fc.save(uri)
    loaded = sf.Forecaster.load(uri, digest=digest)
    assert loaded.predict().equals(pred)
    assert "manifest.json" in storage.list(uri)
    # Saving again: the new version and the one it replaced (kept for readers that read the old
    # manifest an instant before); a third save removes the first.
    first_root = json.loads(storage.read_bytes(f"{uri}/manifest.json"))["root"]
    fc.save(uri)
    fc.save(uri)
    roots = {n.split("/")[1] for n in storage.list(uri) if n.startswith("versions/")}
    assert len(roots) == 2
    assert first_root.split("/")[1] not in roots
    with pytest.raises(ModelFileError, match="digest"):
        sf.Forecaster.load(uri, digest=digest[::-1])


def test_interrupted_save_keeps_the_previous_bundle(
    s3_env: S3Server,
    fitted: tuple[sf.Forecaster, pl.DataFrame],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fc, pred = fitted
    uri = f"s3://{BUCKET}/models/interrupted"
    fc.save(uri)
    before = storage.read_bytes(f"{uri}/manifest.json")
    real_write = storage.write_bytes

    def fail_at_manifest(target: str, data: bytes) -> None:
        if target.endswith("manifest.json"):
            raise ConnectionError("network down")
        real_write(target, data)

    monkeypatch.setattr(storage, "write_bytes", fail_at_manifest)
    with pytest.raises(ConnectionError):
        fc.save(uri)
    monkeypatch.setattr(storage, "write_bytes", real_write)
    # The new version's data files are there, but the manifest still names the old ones.
    assert len({n.split("/")[1] for n in storage.list(uri) if n.startswith("versions/")}) == 2
    assert storage.read_bytes(f"{uri}/manifest.json") == before
    assert sf.Forecaster.load(uri).predict().equals(pred)
    # A first save interrupted the same way leaves no bundle, and says so.
    fresh = f"s3://{BUCKET}/models/never-finished"
    monkeypatch.setattr(storage, "write_bytes", fail_at_manifest)
    with pytest.raises(ConnectionError):
        fc.save(fresh)
    monkeypatch.setattr(storage, "write_bytes", real_write)
    assert storage.list(fresh)
    with pytest.raises(ModelFileError, match=r"not a salesforecast bundle: manifest\.json"):
        sf.Forecaster.load(fresh)
    # ... and the next save there completes and cleans the leftovers.
    fc.save(fresh)
    assert sf.Forecaster.load(fresh).predict().equals(pred)
    assert len({n.split("/")[1] for n in storage.list(fresh) if n.startswith("versions/")}) == 1


def test_a_server_killed_mid_save_loses_nothing(
    tmp_path: Path,
    fitted: tuple[sf.Forecaster, pl.DataFrame],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Its own server: this one is killed the moment the second save's first file lands.
    fc, pred = fitted
    df = sf.generate_sales(n_stores=3, n_products=4, start="2022-01-01", end="2023-06-30", seed=4)
    with pytest.warns(sf.errors.UndeclaredColumnsWarning):
        replacement = small_forecaster().fit(df)
    with s3_server(tmp_path) as server:
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        uri = f"s3://{BUCKET}/models/killed"
        fc.save(uri)
        versions = server.root / BUCKET / "models" / "killed" / "versions"
        saved = set(os.listdir(versions))
        killed, done = threading.Event(), threading.Event()

        def kill_at_the_next_version() -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not done.is_set():
                if set(os.listdir(versions)) - saved:
                    # s3s-fs makes an object's folder once its body has arrived: stopped at
                    # once, the save's later files and its manifest never land.
                    server.process.send_signal(signal.SIGSTOP)
                    server.process.kill()
                    server.process.wait()
                    killed.set()
                    return
                time.sleep(0.001)

        watcher = threading.Thread(target=kill_at_the_next_version)
        watcher.start()
        try:
            with pytest.raises(StorageError) as raised:
                replacement.save(uri)
        finally:
            done.set()
            watcher.join()
        assert killed.is_set()
        assert SECRET_KEY not in str(raised.value)
        with open(server.log, "ab") as out:
            restarted = subprocess.Popen(server.process.args, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for(server.endpoint, restarted, 30, server.log)
            # Files of the new version may be there; the manifest still names the old one.
            assert sf.Forecaster.load(uri).predict().equals(pred)
            replacement.save(uri)
            assert sf.Forecaster.load(uri).predict().equals(replacement.predict())
        finally:
            restarted.terminate()
            restarted.wait(10)


def test_report_written_to_s3(s3_env: S3Server, fitted: tuple[sf.Forecaster, pl.DataFrame]) -> None:
    fc, _ = fitted
    df = fc.history
    assert df is not None
    cv = fc.cross_validation(df, n_windows=2)
    page = sf.report(fc, cv, f"s3://{BUCKET}/runs/r1/report", history=df)
    assert page == f"s3://{BUCKET}/runs/r1/report/report.html"
    assert storage.list(f"s3://{BUCKET}/runs/r1/report") == ["metrics.json", "report.html"]
    assert b"<svg" in storage.read_bytes(page)
    assert json.loads(storage.read_bytes(f"s3://{BUCKET}/runs/r1/report/metrics.json"))


def test_local_paths_and_file_uris_work_the_same(tmp_path: Path) -> None:
    storage.write_bytes(tmp_path / "a" / "b.bin", b"1")
    storage.write_bytes(f"file://{tmp_path}/c.bin", b"2")
    assert storage.list(tmp_path) == ["a/b.bin", "c.bin"]
    assert storage.read_bytes(f"file://{tmp_path}/a/b.bin") == b"1"
    with pytest.raises(InvalidArgumentError, match="gs://"):
        storage.read_bytes("gs://bucket/x")


# Loads the bundle at argv[1], then saves it back as another user (argv[2]: "nobody") or as
# itself ("self"), and prints the class and message of what the save raised.
SAVE_BACK = """
import json, os, sys, warnings
import salesforecast as sf
warnings.simplefilter("ignore")
fc = sf.Forecaster.load(sys.argv[1])
if sys.argv[2] == "nobody":
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
try:
    fc.save(sys.argv[1])
    print(json.dumps(["saved", ""]))
except Exception as e:
    print(json.dumps([type(e).__name__, str(e)]))
"""


def save_back(path: Path, user: str, limit_file_size: bool = False) -> tuple[str, str]:
    def small_files() -> None:
        # A write past 16 kB fails (EFBIG) as on a full disk or quota; the signal that would
        # kill the process is ignored, as a server's is.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (16_000, 16_000))

    run = subprocess.run(
        [sys.executable, "-c", SAVE_BACK, str(path), user],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=small_files if limit_file_size else None,
        check=True,
    )
    kind, message = json.loads(run.stdout.strip().splitlines()[-1])
    return kind, message


@pytest.fixture
def shared_bundle(fitted: tuple[sf.Forecaster, pl.DataFrame]) -> Iterator[Path]:
    """The fitted forecaster saved under /tmp, where another user can reach it (pytest's own
    folders are root's alone)."""
    base = Path(tempfile.mkdtemp(prefix="sf-refused-", dir="/tmp"))
    base.chmod(0o755)
    try:
        fitted[0].save(base / "bundle")
        yield base / "bundle"
    finally:
        shutil.rmtree(base)


@pytest.mark.skipif(os.geteuid() != 0, reason="drops to another user: needs root, as CI runs")
def test_a_read_only_local_store_keeps_the_previous_bundle(
    fitted: tuple[sf.Forecaster, pl.DataFrame], shared_bundle: Path
) -> None:
    for path in [shared_bundle, *shared_bundle.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    kind, message = save_back(shared_bundle, "nobody")
    assert kind == "StorageAccessError", message
    assert f"permission denied at `{shared_bundle}/versions/" in message
    for path in [shared_bundle, *shared_bundle.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    assert sf.Forecaster.load(shared_bundle).predict().equals(fitted[1])


def test_a_write_failing_for_size_keeps_the_previous_bundle(
    fitted: tuple[sf.Forecaster, pl.DataFrame], shared_bundle: Path
) -> None:
    kind, message = save_back(shared_bundle, "self", limit_file_size=True)
    assert kind == "StorageError", message
    assert f"storage error at `{shared_bundle}/versions/" in message
    assert "File too large" in message
    # No visible half: the bundle is the one saved first.
    assert sf.Forecaster.load(shared_bundle).predict().equals(fitted[1])
