"""Plain JSON-ready views of messages, envelopes and deviations (for `mm7bind inspect` and logs)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from .binding import format_duration


def to_jsonable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, bytes):
        return {"bytes": len(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            if v is None or (isinstance(v, (list, dict)) and not v) or f.name.startswith("_"):
                continue
            out[f.name] = to_jsonable(v)
        return out
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "name") and hasattr(value, "namespace") and type(value).__name__ == "Version":
        return value.name
    return value
