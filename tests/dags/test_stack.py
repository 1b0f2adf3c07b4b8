"""The Astro project's files agree with each other (no Docker engine runs here, so `astro dev
start` cannot; the programs it starts run for real in tests/integration)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def env_example() -> dict[str, str]:
    pairs = [
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    return {k: v for k, v in pairs}


def compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.override.yml").read_text())


ASTRO_SERVICES = {"scheduler", "dag-processor", "api-server", "triggerer"}


def shell_variables(text: str) -> set[str]:
    return set(re.findall(r"\$\$?\{?([A-Z_][A-Z0-9_]*)", text))


def compose_to_shell(command: list[str]) -> list[str]:
    """A list-form command as the container runs it: compose turns `$$` into `$`."""
    return [part.replace("$$", "$") for part in command]


def test_the_stack_reads_every_setting_from_env_only() -> None:
    """The Astro CLI interpolates `${...}` in the override from the shell, not from .env: the
    stack's settings reach each container through `env_file: .env` (Astro's own for Airflow)."""
    text = (ROOT / "docker-compose.override.yml").read_text()
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    # Only `$$`, which compose hands to the container's shell as `$`.
    assert not re.search(r"(?<!\$)\$(?!\$)", body.replace("$$", "")), "interpolated by the host"
    services = compose()["services"]
    assert not ASTRO_SERVICES & set(services), "Airflow's environment is Astro's env_file"
    for name, service in services.items():
        assert service["env_file"] == ".env", name
    used = (
        shell_variables(text)
        | shell_variables((ROOT / "astro/mlflow/Dockerfile").read_text())
        | shell_variables((ROOT / "astro/minio/create-bucket.sh").read_text())
    )
    assert used <= set(env_example()), used - set(env_example())
    # What the package reads in Airflow's containers and the app.
    assert {
        "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MLFLOW_TRACKING_URI",
        "SALESFORECAST_STORAGE_ROOT", "OPTUNA_STORAGE", "SALESFORECAST_MODEL",
    } <= set(env_example())  # fmt: skip


def test_the_containers_commands_compose_their_urls_from_env(tmp_path: Path) -> None:
    """The Postgres and MLflow commands, run by `sh` with .env.example as their environment and
    stand-ins for the programs they start: the values they pass are .env's."""
    env = env_example()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in ("docker-entrypoint.sh", "mlflow"):
        stub = bin_dir / program
        # Prints the Postgres settings it was given, then its arguments one per line.
        stub.write_text('#!/bin/sh\nenv | grep ^POSTGRES_ | sort\nprintf "%s\\n" "$@"\n')
        stub.chmod(0o755)
    run_env = {**env, "PATH": f"{bin_dir}:/usr/bin:/bin"}
    services = compose()["services"]

    def run(argv: list[str]) -> list[str]:
        done = subprocess.run(argv, env=run_env, capture_output=True, text=True, check=True)
        return done.stdout.splitlines()

    postgres_command = compose_to_shell(services["mlflow-db"]["entrypoint"])
    postgres = run(postgres_command)
    assert postgres == [
        f"POSTGRES_DB={env['MLFLOW_DB_NAME']}",
        f"POSTGRES_PASSWORD={env['MLFLOW_DB_PASSWORD']}",
        f"POSTGRES_USER={env['MLFLOW_DB_USER']}",
        "postgres",
    ]
    image = (ROOT / "astro/mlflow/Dockerfile").read_text()
    mlflow_command = json.loads(re.search(r"^CMD (\[.*\])$", image, re.M).group(1))  # type: ignore[union-attr]
    mlflow = run(mlflow_command)
    store = mlflow[mlflow.index("--backend-store-uri") + 1]
    user, password, name = env["MLFLOW_DB_USER"], env["MLFLOW_DB_PASSWORD"], env["MLFLOW_DB_NAME"]
    assert store == f"postgresql+psycopg2://{user}:{password}@mlflow-db:5432/{name}"
    assert env["OPTUNA_STORAGE"] == f"postgresql+psycopg2://{user}:{password}@mlflow-db:5432/optuna"
    artifacts = mlflow[mlflow.index("--artifacts-destination") + 1]
    assert artifacts == f"s3://{env['SALESFORECAST_BUCKET']}/mlflow"
    (bin_dir / "pg_isready").write_text((bin_dir / "mlflow").read_text())
    (bin_dir / "pg_isready").chmod(0o755)
    check = services["mlflow-db"]["healthcheck"]["test"]
    assert check[0] == "CMD-SHELL"
    assert run(["sh", "-c", *compose_to_shell(check[1:])]) == ["-U", user, "-d", name]
    # A credential missing from .env stops each program before it starts.
    minio = compose_to_shell(services["minio"]["entrypoint"])
    for command, credential in (
        (minio, "MINIO_ROOT_PASSWORD"),
        (postgres_command, "MLFLOW_DB_PASSWORD"),
        (mlflow_command, "MLFLOW_DB_PASSWORD"),
    ):
        missing = {k: v for k, v in run_env.items() if k != credential}
        done = subprocess.run(command, env=missing, capture_output=True, text=True)
        assert done.returncode != 0, command
        assert credential in done.stderr, done.stderr


def test_services_are_portable_and_healthy() -> None:
    services = compose()["services"]
    assert {"minio", "minio-bucket", "mlflow", "mlflow-db", "streamlit"} <= set(services)
    for name in ("minio", "mlflow", "mlflow-db", "streamlit"):
        assert "healthcheck" in services[name], name
    for name, service in services.items():
        assert "platform" not in service, name
        assert "networks" not in service, name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith("./") or source in compose()["volumes"], (name, volume)
    mlflow = services["mlflow"]
    assert "mlflow:5000" in mlflow["environment"]["MLFLOW_SERVER_ALLOWED_HOSTS"]
    assert mlflow["depends_on"]["mlflow-db"]["condition"] == "service_healthy"
    assert mlflow["depends_on"]["minio-bucket"]["condition"] == "service_completed_successfully"


def test_ports_buckets_and_urls_agree() -> None:
    env = env_example()
    services = compose()["services"]
    assert "127.0.0.1:5000:5000" in services["mlflow"]["ports"]
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert "127.0.0.1:9000:9000" in services["minio"]["ports"]
    assert env["AWS_ENDPOINT_URL"] == env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    bucket = env["SALESFORECAST_BUCKET"]
    assert env["SALESFORECAST_STORAGE_ROOT"].startswith(f"s3://{bucket}/")
    assert env["AWS_ACCESS_KEY_ID"] == env["MINIO_ROOT_USER"]
    assert env["AWS_SECRET_ACCESS_KEY"] == env["MINIO_ROOT_PASSWORD"]
    settings = yaml.safe_load((ROOT / "airflow_settings.yaml").read_text())["airflow"]
    (root,) = [
        v["variable_value"]
        for v in settings["variables"]
        if v["variable_name"] == "salesforecast_storage_root"
    ]
    assert root == env["SALESFORECAST_STORAGE_ROOT"]
    s3 = next(c for c in settings["connections"] if c["conn_id"] == "salesforecast_s3")
    assert s3["conn_extra"]["endpoint_url"] == env["AWS_ENDPOINT_URL"]
    assert "SALESFORECAST_BUCKET" in (ROOT / "astro/minio/create-bucket.sh").read_text()
    # No secret in the settings file: credentials come from the environment.
    text = (ROOT / "airflow_settings.yaml").read_text()
    assert "password" not in text.lower()
    assert env["AWS_SECRET_ACCESS_KEY"] not in text


CREDENTIALS = re.compile(r"USER|PASSWORD|SECRET|ACCESS_KEY")


def test_credentials_come_only_from_env_and_the_bucket_is_private() -> None:
    env = env_example()
    text = (ROOT / "docker-compose.override.yml").read_text()
    # Credentials are nowhere but in .env (test_the_stack_reads_every_setting_from_env_only).
    assert not re.search(r"(?<!\$)\$\{", text)
    secrets = {v for k, v in env.items() if CREDENTIALS.search(k) and "change-me" in v}
    assert len(secrets) >= 2, env
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in tracked:
        path = ROOT / name
        if name == ".env.example" or not path.is_file() or path.suffix in {".parquet", ".png"}:
            continue
        content = path.read_text(errors="replace")
        assert not any(secret in content for secret in secrets), name
    for service, spec in compose()["services"].items():
        assert not any(CREDENTIALS.search(key) for key in spec.get("environment", {})), service
        # Published on the machine itself only.
        for port in spec.get("ports", []):
            assert port.startswith("127.0.0.1:"), (service, port)
    # .env never reaches git or an image.
    assert ".env" not in tracked
    assert "/.env" in (ROOT / ".gitignore").read_text().split()
    assert ".env" in (ROOT / ".dockerignore").read_text().split()
    readme = (ROOT / "README.md").read_text()
    assert "**Change the credentials.**" in readme
    assert "cp .env.example .env" in readme
    # The bucket is made private at every start, and nothing opens it again.
    script = (ROOT / "astro/minio/create-bucket.sh").read_text()
    commands = [line.split() for line in script.splitlines() if line.startswith("mc ")]
    assert ["mc", "anonymous", "set", "none", '"local/$SALESFORECAST_BUCKET"'] in commands
    assert [c for c in commands if c[1] in {"anonymous", "policy"}] == [
        ["mc", "anonymous", "set", "none", '"local/$SALESFORECAST_BUCKET"']
    ]
    assert "SALESFORECAST_BUCKET" in env


def test_images_and_pins_agree_with_the_build() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"ARG RUNTIME_IMAGE=\S+/runtime:3\.\d+-\d+", dockerfile)
    app_image = (ROOT / "astro/streamlit/Dockerfile").read_text()
    assert "make build" in (ROOT / "astro/build-wheel.sh").read_text()
    for image in (dockerfile, app_image):
        # Both images compile the wheel by the Makefile's route and install that wheel.
        assert "FROM rust:1.95" in image
        assert "RUN sh astro/build-wheel.sh" in image
        target = re.search(r"ENV CARGO_TARGET_DIR=(\S+)", image).group(1)  # type: ignore[union-attr]
        assert f"COPY --from=builder {target}/wheels/" in image
        assert "salesforecast-*.whl" in image
    lock = dict(
        line.strip().split("==")
        for line in (ROOT / "requirements-dev.lock").read_text().splitlines()
        if "==" in line and not line.startswith(" ")
    )
    for requirements in ("requirements.txt", "astro/streamlit/requirements.txt"):
        pins = [
            line.split("==")
            for line in (ROOT / requirements).read_text().splitlines()
            if line and not line.startswith("#")
        ]
        assert pins
        for name, version in pins:
            assert lock[name] == version, (requirements, name)
    mlflow_image = (ROOT / "astro/mlflow/Dockerfile").read_text()
    assert f"mlflow=={lock['mlflow']}" in mlflow_image
    # The same Postgres driver as the tests' MLflow server on Postgres.
    assert f"psycopg2-binary=={lock['psycopg2-binary']}" in mlflow_image
    assert "libgomp1" in (ROOT / "packages.txt").read_text()
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"target/", ".venv/", ".local/"} <= set(ignored)
    assert yaml.safe_load((ROOT / ".astro/config.yaml").read_text())["project"]["name"]


def test_the_app_service_runs_the_apps_command() -> None:
    services = compose()["services"]
    app = services["streamlit"]
    image = (ROOT / app["build"]["context"] / app["build"]["dockerfile"]).read_text()
    command = json.loads(re.search(r"^CMD (\[.*\])$", image, re.M).group(1))  # type: ignore[union-attr]
    # `salesforecast ui`, which tests/app/test_browser.py serves and opens in Chromium.
    assert command[:2] == ["salesforecast", "ui"]
    port = command[command.index("--port") + 1]
    assert f"127.0.0.1:{port}:{port}" in app["ports"]
    assert f"EXPOSE {port}" in image
    assert f"127.0.0.1:{port}/_stcore/health" in " ".join(app["healthcheck"]["test"])
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert app["depends_on"]["mlflow"]["condition"] == "service_healthy"
    env = env_example()
    assert env["SALESFORECAST_MODEL"] == "models:/sales_forecast@champion"
    assert app["env_file"] == ".env"
    assert "USER app" in image
