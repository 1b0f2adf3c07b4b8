"""Model bundles: a folder with the boosters in their native formats, the training history as
parquet and a ``manifest.json`` holding everything else plus the SHA-256 of every file. No pickle.

Writing goes to a temporary sibling folder that replaces the target only when complete, so a
failed save never leaves a half-written bundle or destroys the previous one. Loading checks every
checksum first and refuses any mismatch, missing or unexpected file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import polars as pl

from salesforecast import _json
from salesforecast._native import __version__ as _version_module
from salesforecast.errors import ModelFileError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Writes ``data`` to a temporary sibling, then renames it over ``path``: readers see the
    old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        staging.write_bytes(data)
        os.replace(staging, path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise


def save(
    path: str | os.PathLike[str],
    manifest: dict[str, Any],
    files: dict[str, bytes],
    history: pl.DataFrame,
) -> None:
    """Writes ``files`` (relative path to bytes), the history and ``manifest`` (completed with
    checksums) as a bundle at ``path``."""
    target = Path(path)
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    staging.mkdir(parents=True)
    try:
        for name, data in files.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_bytes(data)
        history.write_parquet(staging / "history.parquet")
        checksums = {
            p.relative_to(staging).as_posix(): _sha256(p)
            for p in sorted(staging.rglob("*"))
            if p.is_file()
        }
        manifest = {**manifest, "format_version": FORMAT_VERSION, "files": checksums}
        manifest["created"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        manifest["salesforecast_version"] = _version_module
        (staging / MANIFEST).write_text(_json.dumps(manifest, indent=2))
        backup = None
        if target.exists():
            backup = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
            target.rename(backup)
        staging.rename(target)
        if backup is not None:
            shutil.rmtree(backup)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def read(path: str | os.PathLike[str]) -> tuple[dict[str, Any], Path]:
    """Reads and verifies a bundle: returns its manifest and folder."""
    folder = Path(path)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise ModelFileError(f"{folder} is not a salesforecast bundle: {MANIFEST} is missing")
    try:
        manifest: dict[str, Any] = json.loads(manifest_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(f"{manifest_path} is not valid JSON: {e}") from e
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{folder}: bundle format {manifest.get('format_version')!r} is not "
            f"{FORMAT_VERSION}, the one this version reads"
        )
    expected: dict[str, str] = manifest.get("files", {})
    present = {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.name != MANIFEST
    }
    if missing := sorted(set(expected) - present):
        raise ModelFileError(f"{folder}: files listed in the manifest are missing: {missing}")
    if extra := sorted(present - set(expected)):
        raise ModelFileError(f"{folder}: files not in the manifest: {extra}")
    for name, checksum in expected.items():
        if _sha256(folder / name) != checksum:
            raise ModelFileError(f"{folder}: checksum mismatch for {name}; the bundle was altered")
    return manifest, folder


def read_history(folder: Path) -> pl.DataFrame:
    """The training history stored in a verified bundle."""
    return pl.read_parquet(folder / "history.parquet")
