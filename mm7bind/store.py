"""Persistent records: what we sent (to match delivery and read reports to) and what we received.

SQLite by default (one file, safe across threads and processes, WAL mode); `MemoryStore` for
tests and throw-away use. Both offer the same methods.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class SentRecord:
    """One request the client sent, and how it ended."""

    transaction_id: str
    operation: str  # SubmitReq, CancelReq, ...
    version: str
    recipients: list[str] = field(default_factory=list)
    message_id: str | None = None  # the MMSC's id (SubmitRsp), or the one cancelled/replaced
    url: str | None = None
    sent_at: datetime = field(default_factory=utcnow)
    status_code: int | None = None
    status_text: str | None = None
    error: str | None = None  # the error class and message when it failed
    attempts: int = 1
    linked_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status_code is not None and 1000 <= self.status_code < 2000


class MemoryStore:
    def __init__(self) -> None:
        self._sent: list[SentRecord] = []
        self._lock = threading.Lock()

    def record_sent(self, rec: SentRecord) -> None:
        with self._lock:
            self._sent.append(rec)

    def sent(self) -> list[SentRecord]:
        with self._lock:
            return list(self._sent)

    def sent_by_message_id(self, message_id: str) -> SentRecord | None:
        with self._lock:
            return next((r for r in reversed(self._sent) if r.message_id == message_id and r.operation == "SubmitReq"), None)

    def sent_by_transaction_id(self, transaction_id: str) -> SentRecord | None:
        with self._lock:
            return next((r for r in reversed(self._sent) if r.transaction_id == transaction_id), None)

    def close(self) -> None:
        pass


SENT_SCHEMA = """
CREATE TABLE IF NOT EXISTS sent (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    transaction_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    version TEXT NOT NULL,
    recipients TEXT NOT NULL,
    message_id TEXT,
    url TEXT,
    sent_at TEXT NOT NULL,
    status_code INTEGER,
    status_text TEXT,
    error TEXT,
    attempts INTEGER NOT NULL,
    linked_id TEXT
);
CREATE INDEX IF NOT EXISTS sent_message_id ON sent (message_id);
CREATE INDEX IF NOT EXISTS sent_transaction_id ON sent (transaction_id);
"""


class SqliteStore:
    """Records in one SQLite file. Each thread gets its own connection; writes are committed at once."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        with self._conn() as db:
            db.executescript(SENT_SCHEMA + self.extra_schema())

    def extra_schema(self) -> str:
        return ""

    def _conn(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # an acknowledged message must survive a crash
            db.execute("PRAGMA busy_timeout=30000")
            db.row_factory = sqlite3.Row
            self._local.db = db
            with self._lock:
                self._all.append(db)
        return db

    def record_sent(self, rec: SentRecord) -> None:
        self._conn().execute(
            "INSERT INTO sent (transaction_id, operation, version, recipients, message_id, url, sent_at,"
            " status_code, status_text, error, attempts, linked_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (rec.transaction_id, rec.operation, rec.version, json.dumps(rec.recipients), rec.message_id, rec.url,
             rec.sent_at.isoformat(), rec.status_code, rec.status_text, rec.error, rec.attempts, rec.linked_id),
        )

    @staticmethod
    def _sent_row(row: sqlite3.Row) -> SentRecord:
        return SentRecord(
            transaction_id=row["transaction_id"], operation=row["operation"], version=row["version"],
            recipients=json.loads(row["recipients"]), message_id=row["message_id"], url=row["url"],
            sent_at=datetime.fromisoformat(row["sent_at"]), status_code=row["status_code"],
            status_text=row["status_text"], error=row["error"], attempts=row["attempts"], linked_id=row["linked_id"],
        )

    def sent(self) -> list[SentRecord]:
        return [self._sent_row(r) for r in self._conn().execute("SELECT * FROM sent ORDER BY id")]

    def sent_by_message_id(self, message_id: str) -> SentRecord | None:
        row = self._conn().execute(
            "SELECT * FROM sent WHERE message_id = ? AND operation = 'SubmitReq' ORDER BY id DESC LIMIT 1", (message_id,)
        ).fetchone()
        return self._sent_row(row) if row else None

    def sent_by_transaction_id(self, transaction_id: str) -> SentRecord | None:
        row = self._conn().execute(
            "SELECT * FROM sent WHERE transaction_id = ? ORDER BY id DESC LIMIT 1", (transaction_id,)
        ).fetchone()
        return self._sent_row(row) if row else None

    def close(self) -> None:
        with self._lock:
            for db in self._all:
                db.close()
            self._all.clear()
        self._local = threading.local()
