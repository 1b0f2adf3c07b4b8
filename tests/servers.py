"""Real servers on 127.0.0.1 for the integration tests: an S3 server (s3s-fs, which keeps
objects on disk and checks SigV4 signatures), an MLflow tracking server and PostgreSQL (Debian's
package). No mocks."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
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
def mlflow_server(
    root: Path, s3: S3Server, backend_store_uri: str | None = None
) -> Iterator[MlflowServer]:
    """``mlflow server`` with its backend store (SQLite under ``root`` unless given) and its
    artifacts on the S3 server."""
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
        backend_store_uri or f"sqlite:///{root / 'mlflow.db'}",
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


@contextmanager
def models_serve(model_uri: str, env: dict[str, str], log: Path) -> Iterator[str]:
    """``mlflow models serve`` of ``model_uri`` (the local environment, its default workers) on
    a free loopback port; yields the invocations URL."""
    port = free_port()
    command = [str(Path(sys.executable).with_name("mlflow")), "models", "serve", "-m",
               model_uri, "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]  # fmt: skip
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for(f"http://127.0.0.1:{port}/ping", process, 180, log)
        yield f"http://127.0.0.1:{port}/invocations"
    finally:
        process.terminate()
        process.wait(30)


@dataclass
class PostgresServer:
    host: str
    port: int
    user: str

    def url(self, database: str, driver: str = "postgresql+psycopg2") -> str:
        return f"{driver}://{self.user}@{self.host}:{self.port}/{database}"


def _postgres_bin() -> Path:
    """The newest server of Debian's ``postgresql`` package (`make test` installs it)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4])
    )
    if not found:
        raise RuntimeError("PostgreSQL is not installed; `make test` installs Debian's postgresql")
    return Path(found[-1]).parent


@contextmanager
def postgres_server(databases: list[str]) -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 with ``databases`` created, run by
    ``pg_ctl`` from a temporary folder. PostgreSQL refuses to run as root: as root the cluster
    belongs to the package's ``postgres`` account. Trust authentication, on loopback only."""
    bin_dir = _postgres_bin()
    as_root = os.geteuid() == 0
    run_as = ["runuser", "-u", "postgres", "--"] if as_root else []
    # Outside pytest's private temp root, which the postgres account cannot enter.
    data = Path(tempfile.mkdtemp(prefix="sf-postgres-"))
    if as_root:
        shutil.chown(data, "postgres", "postgres")
    port = free_port()
    user = "salesforecast"

    def run(*args: str) -> None:
        subprocess.run([*run_as, *args], check=True, capture_output=True, cwd=data)

    try:
        run(str(bin_dir / "initdb"), "-D", str(data / "db"), "-U", user, "-A", "trust",
            "-E", "UTF8")  # fmt: skip
        run(
            str(bin_dir / "pg_ctl"), "-D", str(data / "db"), "-l", str(data / "postgres.log"), "-w",
            "-o", f"-h 127.0.0.1 -p {port} -k {data} -c max_connections=200", "start",
        )  # fmt: skip
        for database in databases:
            run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", user, database)
        yield PostgresServer("127.0.0.1", port, user)
    finally:
        subprocess.run(
            [*run_as, str(bin_dir / "pg_ctl"), "-D", str(data / "db"), "-m", "fast", "stop"],
            capture_output=True,
            cwd=data,
        )
        shutil.rmtree(data, ignore_errors=True)
