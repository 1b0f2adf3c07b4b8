"""Real servers on 127.0.0.1 for the integration tests: an S3 server (s3s-fs, which keeps
objects on disk and checks SigV4 signatures) and an MLflow tracking server. No mocks."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# A distinctive fake secret: tests assert it never shows up in logs, params, tags or artifacts.
ACCESS_KEY = "sf-test-access"
SECRET_KEY = "sf-FAKE-secret-7c1e2d9b4a"
BUCKET = "forecasts"


def venv_env() -> dict[str, str]:
    """The environment with this interpreter's scripts (mlflow, uvicorn) first on PATH, as an
    activated virtualenv has it."""
    scripts = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{process.args} exited with {process.returncode}:\n{log.read_text()}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers: up
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s:\n{log.read_text()}")


def s3s_fs_binary() -> str:
    """The s3s-fs that `make test-servers` built (its path from the Makefile, else the default
    shared cache), or one on PATH."""
    target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/salesforecast/target"))
    cached = Path(target) / "tools" / "bin" / "s3s-fs"
    found = (
        os.environ.get("SALESFORECAST_S3S_FS")
        or (str(cached) if cached.is_file() else None)
        or shutil.which("s3s-fs")
    )
    if not found:
        raise RuntimeError(
            "s3s-fs is not installed; `make test` builds it (cargo install s3s-fs@0.14.1)"
        )
    return found


@dataclass
class S3Server:
    endpoint: str
    root: Path
    process: subprocess.Popen[bytes]
    log: Path

    def env(self, secret: str = SECRET_KEY) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
        }


@contextmanager
def s3_server(root: Path) -> Iterator[S3Server]:
    (root / "data" / BUCKET).mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = root / "s3s-fs.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                s3s_fs_binary(),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--access-key",
                ACCESS_KEY,
                "--secret-key",
                SECRET_KEY,
                str(root / "data"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = S3Server(f"http://127.0.0.1:{port}", root / "data", process, log)
    try:
        wait_for(server.endpoint, process, 30, log)
        yield server
    finally:
        process.terminate()
        process.wait(10)


@dataclass
class MlflowServer:
    uri: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    command: list[str]
    env: dict[str, str]

    def stop(self) -> None:
        """Stops the server and every process it started (uvicorn workers)."""
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
        except ProcessLookupError:
            pass

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                self.command,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        wait_for(f"{self.uri}/health", self.process, 120, self.log)


@contextmanager
def mlflow_server(root: Path, s3: S3Server) -> Iterator[MlflowServer]:
    """``mlflow server`` with a SQLite backend store and its artifacts on the S3 server."""
    port = free_port()
    env = {
        **venv_env(),
        **s3.env(),
        "MLFLOW_S3_ENDPOINT_URL": s3.endpoint,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    command = [
        str(Path(sys.executable).with_name("mlflow")),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination",
        f"s3://{BUCKET}/mlflow",
    ]
    server = MlflowServer(
        f"http://127.0.0.1:{port}",
        port,
        None,
        root / "mlflow.log",
        command,
        env,  # type: ignore[arg-type]
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
