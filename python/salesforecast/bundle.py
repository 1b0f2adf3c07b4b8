"""Model bundles: the boosters in their native formats, the training history as parquet and a
``manifest.json`` holding everything else plus the SHA-256 of every file. No pickle. A bundle
lives at any storage location (a local folder, ``s3://bucket/prefix``).

Layout and atomicity (S3 has no rename): each save writes its files under a fresh
``versions/<id>/`` prefix and then ``manifest.json``, which names that prefix, in one request.
Until the manifest is written the previous bundle is untouched and still the one ``load``
reads; a location without a manifest is not a bundle. Older versions are deleted after the
switch.

Integrity: loading checks every file's SHA-256 against the manifest and refuses entries that
would leave the bundle. The manifest itself is covered by the bundle's *digest* (the SHA-256 of
``manifest.json``), which ``save`` returns: record it where the bundle is referenced (an MLflow
model version, a DAG run's outputs) and pass it to ``load(uri, digest=...)`` to catch edits.
With ``SALESFORECAST_BUNDLE_KEY`` set, manifests are signed (HMAC-SHA256) and loading refuses a
bundle whose signature is missing or wrong.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import re
import types
import uuid
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, Union, get_args, get_origin, get_type_hints

from salesforecast import _json, _native, storage
from salesforecast._calibration import INTERVAL_UNITS, SERIES_SCALE
from salesforecast._native import __version__ as _version_module
from salesforecast.errors import (
    InvalidArgumentError,
    ModelFileError,
    SalesForecastError,
    StorageNotFoundError,
)

log = logging.getLogger(__name__)

# Format 3 measures interval widths in the unit the manifest's `interval_unit` names; readers
# of format 2 would apply them in the series' scale, so they refuse it.
FORMAT_VERSION = 3
MANIFEST = "manifest.json"
VERSIONS = "versions"
KEY_ENV = "SALESFORECAST_BUNDLE_KEY"

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _signature(manifest: dict[str, Any], key: str) -> str:
    """HMAC-SHA256 of the manifest without its signature, in a canonical JSON form."""
    body = {k: v for k, v in manifest.items() if k != "signature"}
    canonical = _json.dumps(body, sort_keys=True).encode()
    return hmac.new(key.encode(), canonical, hashlib.sha256).hexdigest()


CONFORMITY_FILE = "conformity.parquet"
HISTORY_FILE = "history.parquet"


@dataclass(frozen=True)
class ModelEntry:
    """One model of a bundle: its name, class, constructor parameters and, for boosters, its
    native files (one per step for the direct strategy) with each file's feature names and
    log1p bias correction (``Smearing.to_json`` or None; absent from older bundles, which
    forecast uncorrected)."""

    name: str
    kind: str
    params: dict[str, Any]
    files: list[str] = field(default_factory=list)
    feature_names: list[Any] = field(default_factory=list)
    smearing: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class Manifest:
    """What a forecaster's bundle holds besides its files: the one definition ``save`` writes
    and ``read`` checks (keys, types) before anything else is read."""

    settings: dict[str, Any]
    features: dict[str, Any]
    holidays: list[Any] | None
    models: list[ModelEntry]
    weights: dict[str, Any] | None
    interval_widths: dict[str, Any] | None
    training_window: dict[str, Any]
    columns: dict[str, Any]
    # Absent from bundles of older versions.
    metrics: list[Any] | None = None
    fitted_at: str | None = None
    categories: dict[str, Any] = field(default_factory=dict)
    # What the guard replaced in the calibration windows (keys, model, distances, cutoff).
    guarded: list[Any] | None = None
    # The default booster's settings that a refit settles again from its data.
    settled: list[Any] = field(default_factory=list)
    # What the conformity scores and interval widths are measured in (`INTERVAL_UNITS` of
    # `_calibration`); older bundles measured them in the series' scale.
    interval_unit: str = SERIES_SCALE
    # The baseline the ensemble fell back to, and the series-windows its blend won of those
    # judged (absent from bundles of older versions).
    ensemble_fallback: str | None = None
    ensemble_beaten: list[int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, manifest: dict[str, Any]) -> Manifest:
        """From a manifest :func:`check_manifest` accepted."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in manifest.items() if k in known}
        values["models"] = [
            ModelEntry(**{k: v for k, v in m.items() if k in _MODEL_FIELDS})
            for m in manifest["models"]
        ]
        return cls(**values)


def _accepted(hint: Any) -> tuple[type, ...]:
    """The runtime types a JSON value of type ``hint`` may have."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        return tuple(t for arg in get_args(hint) for t in _accepted(arg))
    if hint is type(None):
        return (type(None),)
    if hint is Any:
        return (object,)
    return (origin or hint,)


def _schema(cls: type) -> tuple[dict[str, tuple[type, ...]], set[str]]:
    """Accepted types of every field of ``cls`` and the fields without a default."""
    hints = get_type_hints(cls)
    required = {
        f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING
    }
    types_ = {f.name: _accepted(hints[f.name]) for f in fields(cls)}
    return types_, required


_MODEL_FIELDS = {f.name for f in fields(ModelEntry)}
_MANIFEST_SCHEMA = _schema(Manifest)
_MODEL_SCHEMA = _schema(ModelEntry)


@dataclass(frozen=True)
class Bundle:
    """A verified bundle: its manifest, every file's bytes and its digest."""

    uri: str
    manifest: dict[str, Any]
    files: dict[str, bytes]
    digest: str

    @property
    def contents(self) -> Manifest:
        """The manifest as its typed definition."""
        return Manifest.from_dict(self.manifest)


def save(uri: str | os.PathLike[str], contents: Manifest, files: dict[str, bytes]) -> str:
    """Writes ``files`` (relative name to bytes) and ``contents`` (completed with the format,
    checksums and, with a key set, a signature) as a bundle at ``uri``; returns its digest.

    Refuses a location that holds anything but a bundle, so a save never deletes a user's
    files."""
    base = os.fspath(uri).rstrip("/")
    existing = storage.list(base)
    foreign = [n for n in existing if n != MANIFEST and not n.startswith(f"{VERSIONS}/")]
    previous_root, old_files = _previous(base) if MANIFEST in existing else (None, [])
    foreign = [n for n in foreign if n not in old_files]
    if foreign:
        raise InvalidArgumentError(
            f"invalid argument `path`: {base} holds {len(foreign)} files that are not part of a "
            f"salesforecast bundle (e.g. {foreign[:3]}); save into an empty folder or a bundle"
        )
    for name in files:
        storage.check_relative(name)
    # 64 random bits: unique enough per location, and short (S3 keys become file names on some
    # servers, where a name is limited to 255 bytes).
    root = f"{VERSIONS}/{uuid.uuid4().hex[:16]}"
    for name, data in files.items():
        storage.write_bytes(storage.join(base, root, name), data)
    manifest = {
        **contents.to_dict(),
        "format_version": FORMAT_VERSION,
        "root": root,
        "files": {name: sha256(data) for name, data in sorted(files.items())},
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "salesforecast_version": _version_module,
    }
    key = os.environ.get(KEY_ENV)
    if key:
        manifest["signature"] = _signature(manifest, key)
    text = _json.dumps(manifest, indent=2).encode()
    # The switch: one request. Everything before it is invisible to `load`.
    storage.write_bytes(storage.join(base, MANIFEST), text)
    digest = sha256(text)
    # The version just replaced stays until the next save, so a reader that read the previous
    # manifest an instant ago still finds its files; older versions (and the files of an
    # interrupted save) go. Clean-up failing (a bucket policy without DeleteObject) loses
    # nothing: the new bundle is complete and its digest is returned.
    keep = {f"{root}/", *([f"{previous_root}/"] if previous_root else [])}
    stale = {
        "/".join(n.split("/")[:2])
        for n in existing
        if n.startswith(f"{VERSIONS}/") and not any(n.startswith(k) for k in keep)
    }
    try:
        for prefix in sorted(stale):
            storage.delete_prefix(storage.join(base, prefix))
        for name in old_files:
            storage.delete(storage.join(base, name))
    except SalesForecastError as e:
        log.warning("saved %s, but could not delete its older versions: %s", base, e)
    return digest


def _previous(base: str) -> tuple[str | None, list[str]]:
    """The version root of the bundle at ``base`` (format 2), or its top-level files (format
    1, to replace them)."""
    try:
        old = json.loads(storage.read_bytes(storage.join(base, MANIFEST)))
    except (ValueError, StorageNotFoundError):
        return None, []
    if not isinstance(old, dict):
        return None, []
    root = old.get("root")
    if old.get("format_version") != 1:
        return (root if isinstance(root, str) and root.startswith(f"{VERSIONS}/") else None), []
    files = old.get("files")
    return None, [n for n in files if isinstance(n, str)] if isinstance(files, dict) else []


def read(uri: str | os.PathLike[str], digest: str | None = None) -> Bundle:
    """Reads and verifies the bundle at ``uri``: its digest (when given), its signature (when
    ``SALESFORECAST_BUNDLE_KEY`` is set), its manifest's schema, and every file's checksum."""
    base = os.fspath(uri).rstrip("/")
    if digest is not None and not (isinstance(digest, str) and _SHA256.match(digest)):
        raise InvalidArgumentError(
            f"invalid argument `digest`: {digest!r} is not a SHA-256 (64 lowercase hex digits)"
        )
    try:
        return _read_once(base, digest)
    except StorageNotFoundError:
        # A save replaced the bundle between reading its manifest and its files: read again.
        return _read_once(base, digest)


def _read_once(base: str, digest: str | None) -> Bundle:
    try:
        raw = storage.read_within(base, MANIFEST)
    except StorageNotFoundError:
        raise ModelFileError(
            f"{base} is not a salesforecast bundle: {MANIFEST} is missing"
        ) from None
    actual = sha256(raw)
    if digest is not None and not hmac.compare_digest(actual, digest):
        raise ModelFileError(
            f"{base}: the bundle's digest {actual} is not the expected {digest}; the bundle was "
            "altered or replaced"
        )
    # The core checks the container (strict JSON, the format, the root and every file entry):
    # the files read below are the ones it checked.
    format_version, root, expected = _native.bundle_check_manifest(raw, base)
    manifest = json.loads(raw)
    check_manifest(manifest, base)
    key = os.environ.get(KEY_ENV)
    if key:
        signature = manifest.get("signature")
        if (
            not isinstance(signature, str)
            or not _SHA256.match(signature)
            or not hmac.compare_digest(signature, _signature(manifest, key))
        ):
            raise ModelFileError(
                f"{base}: the manifest's signature does not match {KEY_ENV}; the bundle was "
                "altered or signed with another key"
            )
    listed = {name for name, _ in expected}
    present = {n for n in storage.list(storage.join(base, root) if root else base) if n != MANIFEST}
    if format_version == 1:
        present = {n for n in present if not n.startswith(f"{VERSIONS}/")}
    if missing := sorted(listed - present):
        raise ModelFileError(f"{base}: files listed in the manifest are missing: {missing}")
    if extra := sorted(present - listed):
        raise ModelFileError(f"{base}: files not in the manifest: {extra}")
    files = {}
    prefix = f"{root}/" if root else ""
    for name, checksum in expected:
        try:
            # Relative to the bundle itself: no link on the way to the file is followed.
            data = storage.read_within(base, prefix + name)
        except InvalidArgumentError as e:
            raise ModelFileError(f"{base}: refused {name}: {e}") from None
        if sha256(data) != checksum:
            raise ModelFileError(f"{base}: checksum mismatch for {name}; the bundle was altered")
        files[name] = data
    return Bundle(uri=base, manifest=manifest, files=files, digest=actual)


_SETTINGS: dict[str, tuple[type, ...]] = {
    "freq": (str,),
    "horizon": (int,),
    "strategy": (str,),
    "levels": (list,),
    "cv_windows": (int,),
    "season_length": (int,),
    "id_col": (list,),
    "time_col": (str,),
    "target_col": (str,),
    "static_features": (list,),
    "known_future": (list,),
    "past_only": (list,),
}


def _check_keys(
    value: dict[str, Any],
    schema: dict[str, tuple[type, ...]],
    required: set[str] | None,
    where: str,
    base: str,
) -> None:
    for key, accepted in schema.items():
        if key not in value:
            if required is None or key in required:
                raise ModelFileError(f"{base}: manifest {where} lacks `{key}`")
            continue
        wrong_bool = (
            isinstance(value[key], bool) and bool not in accepted and object not in accepted
        )
        if not isinstance(value[key], accepted) or wrong_bool:
            raise ModelFileError(
                f"{base}: manifest {where}`{key}` is {type(value[key]).__name__}, expected "
                f"{' or '.join(t.__name__ for t in accepted)}"
            )


def check_manifest(manifest: dict[str, Any], base: str) -> None:
    """Raises :class:`ModelFileError` unless ``manifest``, whose container the core checked
    (``bundle_check_manifest``), describes a forecaster: every key of the right type."""
    _check_keys(manifest, *_MANIFEST_SCHEMA, "", base)
    _check_keys(manifest["settings"], _SETTINGS, None, "settings.", base)
    if manifest["format_version"] >= 3 and "interval_unit" not in manifest:
        raise ModelFileError(f"{base}: manifest lacks `interval_unit` (format 3 names it)")
    unit = manifest.get("interval_unit", SERIES_SCALE)
    if unit not in INTERVAL_UNITS:
        raise ModelFileError(
            f"{base}: interval widths in an unknown unit {unit!r} "
            f"(this version knows {', '.join(INTERVAL_UNITS)})"
        )
    for i, model in enumerate(manifest["models"]):
        if not isinstance(model, dict):
            raise ModelFileError(f"{base}: manifest models[{i}] is not an object")
        _check_keys(model, *_MODEL_SCHEMA, f"models[{i}].", base)
    beaten = manifest.get("ensemble_beaten")
    if beaten is not None and (
        len(beaten) != 2
        or any(not isinstance(n, int) or isinstance(n, bool) or n < 0 for n in beaten)
        or beaten[1] == 0
        or beaten[0] > beaten[1]
    ):
        raise ModelFileError(
            f"{base}: manifest `ensemble_beaten` must be [won, judged], got {beaten!r}"
        )
    fallback = manifest.get("ensemble_fallback")
    weights = manifest.get("weights") or {}
    # The fallback is the baseline alone, taken because the blend won at most half the
    # series-windows it was judged on.
    if fallback is not None and (
        weights != {name: float(name == fallback) for name in weights}
        or fallback not in weights
        or beaten is None
        or 2 * beaten[0] > beaten[1]
    ):
        raise ModelFileError(
            f"{base}: manifest `ensemble_fallback` {fallback!r} must name the model holding all "
            "the weights, with `ensemble_beaten` showing the blend won at most half"
        )
