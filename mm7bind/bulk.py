"""Sending one message to many recipients: a worker pool over one client, with progress.

Each recipient gets its own SubmitReq (the common carrier rule); the client's rate limit and retry
policy apply to every one. Progress goes to a callback; the result lists every failure.
"""

from __future__ import annotations

import csv
import dataclasses
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import messages as m
from .errors import MM7Error


@dataclass
class BulkResult:
    total: int = 0
    sent: int = 0
    failed: int = 0
    elapsed: float = 0.0
    message_ids: dict[str, str] = field(default_factory=dict)  # recipient → MessageID
    failures: list[tuple[str, str]] = field(default_factory=list)  # (recipient, why)

    @property
    def rate(self) -> float:
        return self.total / self.elapsed if self.elapsed else 0.0


def read_recipients(path: str | Path) -> list[str]:
    """Recipients from a CSV file: the first column of every row (a header row is skipped)."""
    out = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        for i, row in enumerate(csv.reader(f)):
            if not row or not row[0].strip():
                continue
            value = row[0].strip()
            if i == 0 and not any(ch.isdigit() for ch in value) and "@" not in value:
                continue  # a header such as "number"
            out.append(value)
    return out


def send_bulk(client, template: m.SubmitReq, recipients: Iterable[str], *, concurrency: int = 4,
              progress: Callable[[BulkResult], None] | None = None) -> BulkResult:
    recipients = list(recipients)
    result = BulkResult(total=len(recipients))
    lock = threading.Lock()
    started = time.monotonic()

    def one(rcpt: str) -> None:
        msg = dataclasses.replace(template, recipients=m.Recipients(to=[rcpt]))
        try:
            r = client.submit(msg)
            ok, why = r.ok, f"{r.status.code} {r.status.text}"
        except MM7Error as exc:
            ok, why, r = False, f"{type(exc).__name__}: {exc}", None
        with lock:
            if ok:
                result.sent += 1
                result.message_ids[rcpt] = r.message_id
            else:
                result.failed += 1
                result.failures.append((rcpt, why))
            result.elapsed = time.monotonic() - started
            if progress:
                progress(result)

    with ThreadPoolExecutor(max(1, concurrency)) as pool:
        list(pool.map(one, recipients))
    result.elapsed = time.monotonic() - started
    return result
