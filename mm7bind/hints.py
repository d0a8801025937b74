"""The hint given with a name nobody knows (a configuration key, a JSON field, an XML element):
the known name it is likely a misspelling of, said the same way everywhere."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """' (did you mean <the closest known name>?)', or '' when none is close."""
    close = difflib.get_close_matches(name, list(known), 1)
    return f" (did you mean {close[0]}?)" if close else ""


def with_hints(unknown: Iterable[str], known: Iterable[str]) -> str:
    """The unknown names, comma-separated, each with its hint: "subjet (did you mean subject?), zzz"."""
    known = list(known)
    return ", ".join(name + did_you_mean(name, known) for name in unknown)
