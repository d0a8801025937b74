"""Text a peer chose, made safe to show on a terminal or in a log line."""

from __future__ import annotations


def printable(text: object) -> str:
    """`text` with control characters shown as escapes: a line break in a TransactionID or an
    address would forge a log line or a table row; an escape sequence would drive the terminal."""
    text = "" if text is None else str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
