"""JSON that every reader accepts: NaN and infinities (which JSON has no token for) become
null, and values JSON cannot hold (dates) become strings."""

from __future__ import annotations

import json
import math
from typing import Any


def finite_or_none(value: Any) -> Any:
    """``value`` with every non-finite float, at any depth, replaced by None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list | tuple):
        return [finite_or_none(v) for v in value]
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    return value


def dumps(value: Any, *, indent: int | None = None, sort_keys: bool = False) -> str:
    return json.dumps(
        finite_or_none(value), indent=indent, default=str, allow_nan=False, sort_keys=sort_keys
    )
