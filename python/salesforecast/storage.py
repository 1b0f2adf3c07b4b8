"""Reading and writing a local folder or an S3 bucket through one code path (the Rust
``salesforecast-io`` crate on ``object_store``).

Locations are URIs (``s3://bucket/prefix/key``, ``file:///abs/path``) or plain local paths. S3
settings come from the standard environment variables: ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION``, ``AWS_ENDPOINT_URL`` (MinIO or
any S3-compatible server, addressed path-style) and ``AWS_ALLOW_HTTP=true`` for a plain-HTTP
endpoint. Errors are :class:`~salesforecast.errors.StorageError` subclasses that name the
location or bucket, never a credential.

>>> import salesforecast as sf
>>> sf.storage.write_frame(df, "s3://forecasts/runs/42/train.parquet")   # doctest: +SKIP
>>> sf.storage.list("s3://forecasts/runs/42")                             # doctest: +SKIP
['train.parquet']
"""

from __future__ import annotations

import builtins
import io
import os
from typing import Any

import polars as pl

from salesforecast import _native
from salesforecast._frames import to_polars
from salesforecast.errors import InvalidArgumentError

__all__ = [
    "delete",
    "delete_prefix",
    "exists",
    "join",
    "list",
    "read_bytes",
    "read_frame",
    "write_bytes",
    "write_frame",
]

Location = str | os.PathLike[str]

FRAME_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


def _uri(location: Location) -> str:
    if isinstance(location, str | os.PathLike):
        text = os.fspath(location)
        if text:
            return text
    raise InvalidArgumentError(
        f"invalid argument `uri`: expected a non-empty path or URI, got {location!r}"
    )


def join(base: Location, *parts: str | os.PathLike[str]) -> str:
    """``base`` with ``parts`` appended by ``/`` (for URIs and local paths alike)."""
    out = _uri(base).rstrip("/")
    for part in parts:
        out = f"{out}/{_uri(part).strip('/')}"
    return out


def write_bytes(uri: Location, data: bytes) -> None:
    """Writes ``data`` at ``uri`` in one request: readers see the old object or the new one."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidArgumentError(
            f"invalid argument `data`: expected bytes, got {type(data).__name__}"
        )
    _native.storage_put(_uri(uri), bytes(data))


def read_bytes(uri: Location) -> bytes:
    """The bytes stored at ``uri``; :class:`~salesforecast.errors.StorageNotFoundError` when
    there is nothing."""
    return _native.storage_get(_uri(uri))


def read_within(base: Location, relative: str) -> bytes:
    """The bytes of the entry ``relative`` under ``base``. Entries that would leave ``base``
    (``..``, absolute paths, URIs, symbolic links on a local disk) are refused before anything
    is read."""
    return _native.storage_get_within(_uri(base), relative)


def check_relative(relative: str) -> None:
    """Raises :class:`~salesforecast.errors.InvalidArgumentError` when ``relative`` would leave
    the location it is relative to."""
    _native.storage_check_relative(relative)


def exists(uri: Location) -> bool:
    """Whether an object (a file) exists at ``uri``."""
    return _native.storage_exists(_uri(uri))


def list(uri: Location) -> builtins.list[str]:
    """Every object under the prefix (folder) ``uri``, as sorted paths relative to it."""
    return _native.storage_list(_uri(uri))


def delete(uri: Location) -> None:
    """Deletes the object at ``uri``; deleting what is not there is not an error."""
    _native.storage_delete(_uri(uri))


def delete_prefix(uri: Location) -> None:
    """Deletes every object under the prefix (folder) ``uri``."""
    _native.storage_delete_prefix(_uri(uri))


def _format(uri: str, format: str | None) -> str:
    if format is not None:
        if format not in ("parquet", "csv"):
            raise InvalidArgumentError(
                f"invalid argument `format`: {format!r} is neither 'parquet' nor 'csv'"
            )
        return format
    suffix = os.path.splitext(uri)[1].lower()
    if suffix not in FRAME_FORMATS:
        raise InvalidArgumentError(
            f"invalid argument `uri`: {uri!r} ends in neither .parquet nor .csv; give `format`"
        )
    return FRAME_FORMATS[suffix]


def write_frame(df: Any, uri: Location, *, format: str | None = None) -> str:
    """Writes a polars or pandas frame as parquet or CSV (by the extension of ``uri``, or
    ``format``) and returns the URI."""
    target = _uri(uri)
    frame = to_polars(df)
    buffer = io.BytesIO()
    if _format(target, format) == "parquet":
        frame.write_parquet(buffer)
    else:
        frame.write_csv(buffer)
    write_bytes(target, buffer.getvalue())
    return target


def read_frame(uri: Location, *, format: str | None = None) -> pl.DataFrame:
    """Reads a parquet or CSV frame written by :func:`write_frame` (or anyone else)."""
    source = _uri(uri)
    data = io.BytesIO(read_bytes(source))
    if _format(source, format) == "parquet":
        return pl.read_parquet(data)
    return pl.read_csv(data, try_parse_dates=True, infer_schema_length=10_000)
