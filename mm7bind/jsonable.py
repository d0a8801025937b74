"""Plain JSON-ready views of messages, envelopes and deviations (for `mm7bind inspect` and logs)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from .binding import format_duration


# Exact types only: an Enum member that is a str (StrEnum) gives its value below, as before.
_PLAIN = frozenset({str, int, float, bool, type(None)})
# Each dataclass's field names, but private ones: read once per class, not once per value (the
# receiver digests every message it takes this way).
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def to_jsonable(value: Any) -> Any:
    cls = type(value)
    if cls in _PLAIN:
        return value
    # (a plain value is taken in place rather than in a call of its own, and the usual containers
    # are told by their exact class: the receiver digests every message it takes this way)
    if cls is list or cls is tuple:
        return [v if type(v) in _PLAIN else to_jsonable(v) for v in value]
    if cls is dict:
        return {str(k): v if type(v) in _PLAIN else to_jsonable(v) for k, v in value.items()}
    # (a class listed here reached the dataclass branch before: past the checks above it, which
    # depend on the class alone)
    names = _FIELD_NAMES.get(cls)
    if names is None:
        if isinstance(value, Enum):
            return value._value_  # (its value, without the property's two calls)
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, timedelta):
            return format_duration(value)
        if isinstance(value, bytes):
            return {"bytes": len(value)}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls) if not f.name.startswith("_"))
    if names is not None:
        out = {}
        for name in names:
            v = getattr(value, name)
            if v is None:
                continue
            if type(v) in _PLAIN:
                out[name] = v
            elif not (isinstance(v, (list, dict)) and not v):
                out[name] = to_jsonable(v)
        return out
    if isinstance(value, dict):
        return {str(k): v if type(v) in _PLAIN else to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [v if type(v) in _PLAIN else to_jsonable(v) for v in value]
    if hasattr(value, "name") and hasattr(value, "namespace") and type(value).__name__ == "Version":
        return value.name
    return value


def deviation_json(deviation) -> dict:
    """A `Deviation` as every JSON view gives it (inspect, validate, store show, the forwarded and
    saved messages): `details` is the validator's own words, "" when it has none."""
    return {"code": deviation.code, "path": deviation.path, "message": deviation.message,
            "details": deviation.details}
