"""The hint given with a name nobody knows (a configuration key, a JSON field, an XML element):
the known name it is likely a misspelling of, said the same way everywhere."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """' (did you mean <the closest known name>?)', or '' when none is close."""
    known = list(known)
    # (the same name in other capitals first: difflib finds nothing alike in "MMSC" and "mmsc")
    close = [k for k in known if k.lower() == name.lower()][:1] or difflib.get_close_matches(name, known, 1)
    return f" (did you mean {close[0]}?)" if close else ""


def unknown_fields(given: Iterable[str], known: Iterable[str]) -> str | None:
    """What to say of the names of `given` that are not `known` (a JSON object's fields), sorted,
    each with its hint: "unknown field(s): subjet (did you mean subject?), zzz"; None if there are none."""
    known = list(known)
    unknown = sorted(set(given) - set(known))
    if not unknown:
        return None
    return "unknown field(s): " + ", ".join(name + did_you_mean(name, known) for name in unknown)
