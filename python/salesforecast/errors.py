"""Exceptions raised by salesforecast.

Every error is a :class:`SalesForecastError`. Errors caused by bad input (arguments, columns,
data) also subclass :class:`ValueError`, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "BoosterError",
    "ChartError",
    "ColumnTypeError",
    "DataError",
    "EndedSeriesWarning",
    "InternalError",
    "InvalidArgumentError",
    "MissingColumnError",
    "ModelFileError",
    "NotFittedError",
    "SalesForecastError",
    "SeriesTooShortError",
    "StorageAccessError",
    "StorageError",
    "StorageNotFoundError",
    "UndeclaredColumnsWarning",
    "ValidationError",
]


class SalesForecastError(Exception):
    """Base class of every salesforecast error."""


class InvalidArgumentError(SalesForecastError, ValueError):
    """An argument is out of range or malformed; the message names the argument."""


class MissingColumnError(SalesForecastError, ValueError):
    """A column the call needs is not in the frame; the message lists the columns present."""


class ColumnTypeError(SalesForecastError, ValueError):
    """A column has a dtype the call cannot use."""


class DataError(SalesForecastError, ValueError):
    """A value breaks the data contract; the message names the column and row."""


class SeriesTooShortError(DataError):
    """A series has fewer periods than the call needs; the message names the series."""


class ValidationError(SalesForecastError, ValueError):
    """``validate(..., raise_on_error=True)`` found errors; the message lists every one."""


class InternalError(SalesForecastError):
    """A failure inside the native core that is not the caller's fault. Please report it."""


class BoosterError(SalesForecastError):
    """XGBoost or LightGBM refused a call; the message is the library's own."""


class ModelFileError(SalesForecastError, ValueError):
    """A model file or buffer is corrupt or belongs to another library."""


class NotFittedError(SalesForecastError):
    """A model was used before ``fit``."""


class ChartError(SalesForecastError):
    """A chart could not be drawn or encoded."""


class StorageError(SalesForecastError):
    """Storage (a local folder or an S3 bucket) failed: network, server or file system. The
    message names the location, never a credential."""


class StorageNotFoundError(StorageError, FileNotFoundError):
    """Nothing is stored at the location."""


class StorageAccessError(StorageError, PermissionError):
    """The store refused the credentials or the operation; the message names the bucket, or
    the local path the file system refused."""


class EndedSeriesWarning(UserWarning):
    """Series whose history ends before the data's last period and that have no rows in
    ``future`` (discontinued products) are not forecast by ``predict``; the warning names
    them."""


class UndeclaredColumnsWarning(UserWarning):
    """The frame has columns the Forecaster was not told about (not static, known-future or
    past-only); they are ignored."""
