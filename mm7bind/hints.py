"""The hint given with a name nobody knows (a configuration key, a JSON field, an XML element):
the known name it is likely a misspelling of, said the same way everywhere."""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """' (did you mean <the closest known name>?)', or '' when none is close."""
    known = list(known)
    # (the same name in other capitals first: difflib finds nothing alike in "MMSC" and "mmsc")
    close = [k for k in known if k.lower() == name.lower()][:1] or difflib.get_close_matches(name, known, 1)
    return f" (did you mean {close[0]}?)" if close else ""


def refused_choice(value: object, choices: Iterable[str]) -> str:
    """A value that is none of `choices` as its refusal quotes it: with the nearest choice when it
    is a slip of one (`'Digest'`, `'basc'`), else not at all — a setting named `auth` is given
    credentials ("sp:secret"), as curl's -u and httpie's --auth take them."""
    choices = list(choices)
    if isinstance(value, str):  # (else said by its type)
        close = ([c for c in choices if c.lower() == value.strip().lower()][:1]
                 or difflib.get_close_matches(value, choices, 1, cutoff=0.6))
        if close:
            return f"{value!r} (did you mean {close[0]}?)"
    else:
        return f"a {type(value).__name__}"
    return "what was given (not repeated: it may be a credential)"


def unknown_fields(given: Iterable[str], known: Iterable[str]) -> str | None:
    """What to say of the names of `given` that are not `known` (a JSON object's fields), sorted,
    each with its hint: "unknown field(s): subjet (did you mean subject?), zzz"; None if there are none."""
    known = list(known)
    unknown = sorted(set(given) - set(known))
    if not unknown:
        return None
    return "unknown field(s): " + ", ".join(name + did_you_mean(name, known) for name in unknown)


_UNEXPECTED = re.compile(r"got an unexpected keyword argument '([^']+)'")


def suggest_keywords(made: T) -> T:
    """Decorator of a class (its constructor) or of a function that makes one (`serve`): a keyword
    it does not take is refused with the one it likely is ("got an unexpected keyword argument
    'read_timout' (did you mean read_timeout?)"), still a TypeError. One passing its other keywords
    on (`Client(**settings)` to `ClientConfig`) names the keywords of both. A correct call goes
    through one more function: for what is made once per client or per message, not per field."""
    if not isinstance(made, type):
        return _checked(made)  # type: ignore[return-value]
    made.__init__ = _checked(made.__init__)  # type: ignore[misc]
    return made


def _checked(fn):
    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except TypeError as exc:
            _suggest(exc, fn, kwargs)
            raise

    return call


def _suggest(exc: TypeError, init, given: dict) -> None:
    import inspect  # noqa: PLC0415  (only on the way to an error)

    found = _UNEXPECTED.search(str(exc)) if len(exc.args) == 1 else None
    if found is None or found.group(1) not in given:
        return
    inner = getattr(exc, "_mm7bind_keywords", None)
    # (the call itself refused, or a constructor it passed the keyword on to; another error raised
    # inside is its own)
    if inner is None and (exc.__traceback__ is None or exc.__traceback__.tb_next is not None):
        return
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    known = [p.name for p in inspect.signature(init).parameters.values() if p.kind in kinds and p.name != "self"]
    known += inner or []
    exc._mm7bind_keywords = known  # type: ignore[attr-defined]
    name = found.group(1)
    exc.args = (f"{init.__qualname__}() got an unexpected keyword argument {name!r}" + did_you_mean(name, known),)
