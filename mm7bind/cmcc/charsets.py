"""The charsets of the SDK's MMConstants.Charset, as Python writes them (manual §3.2, `Charset`).

Java knows ISO-10646-UCS-2 as another name of UTF-16BE; Python has no codec of that name, so it is
read as UTF-16BE (the same bytes for every character UCS-2 can hold). The others are Python names too.
"""

from __future__ import annotations

import codecs

JAVA_ALIASES = {"iso-10646-ucs-2": "UTF-16BE", "unicodebigunmarked": "UTF-16BE"}


def python_charset(name: str) -> str:
    """`name` as Python can encode with (LookupError when it knows no such charset)."""
    name = JAVA_ALIASES.get(name.strip().lower(), name.strip())
    codecs.lookup(name)
    return name


def content_type_param(content_type: str | None, param: str) -> str | None:
    """A parameter of a content-type string such as "text/plain;charset=GB2312" (the SDK's
    MMContentType dropped them; an SP writing one means it)."""
    if not content_type:
        return None
    for item in str(content_type).split(";")[1:]:
        key, _, value = item.partition("=")
        if key.strip().lower() == param and value.strip().strip('"').strip():
            return value.strip().strip('"').strip()
    return None
