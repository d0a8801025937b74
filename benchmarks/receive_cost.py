"""What one accepted message costs the receiver, in counts that do not depend on the machine's load:

    python -m benchmarks.receive_cost [--durability power|process] [--messages N]

`Receiver.handle` called in one thread (no HTTP) with the receiver case's DeliverReq (a 10 KiB
image, a new TransactionID each) and a SqliteStore, after a warm-up: Python function calls per
message (cProfile), SQL statements per message (by kind), bytes the store appends to its WAL per
message (checkpoints off while counting), and the CPU time per message (for reference only: on a
shared machine it moves with the load; compare changes by the counts, or alternate runs).
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import os
import pstats
import random
import sys
import tempfile
import time

import mm7bind as mm7
from mm7bind.store import SqliteStore

WARM_UP = 50


class _Counted(SqliteStore):
    """A store whose connections can count the statements they run (by their first words). Traced
    only while counting: SQLite writes out each statement with its values for the callback, a
    10 KiB body as hex, which would weigh on the other measures."""

    statements: collections.Counter = collections.Counter()

    def _connect(self, sync):
        db = super()._connect(sync)
        self.connections = [*getattr(self, "connections", []), db]
        return db

    def trace(self, on: bool) -> None:
        for db in self.connections:
            db.set_trace_callback(self._seen if on else None)

    @classmethod
    def _seen(cls, sql: str) -> None:
        cls.statements[" ".join(sql.split()[:3]).split("(")[0]] += 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.receive_cost")
    p.add_argument("--durability", choices=("power", "process"), default="power")
    p.add_argument("--messages", type=int, default=500)
    args = p.parse_args(argv)
    n = args.messages
    rng = random.Random(1)  # (the same image every run: the counts compare)
    image = b"\xff\xd8\xff\xe0" + bytes(rng.getrandbits(8) for _ in range(10 * 1024 - 4))
    out = mm7.encode(mm7.DeliverReq(sender="+8613800138000", recipients=["1065888"], subject="bench",
                                    content=mm7.Content(parts=[mm7.Part.from_bytes(image, "image/jpeg")])),
                     transaction_id="TXID-000000000000")
    body, ctype = out.to_bytes(), out.content_type
    headers = {"Host": "127.0.0.1:8080", "Content-Length": str(len(body)), "Content-Type": ctype, "SOAPAction": '""'}
    bodies = iter(body.replace(b"TXID-000000000000", b"T-%012d" % i) for i in range(WARM_UP + 4 * n))

    def receive(count: int) -> None:
        for _ in range(count):
            rsp = receiver.handle(next(bodies), ctype, headers, "127.0.0.1", "POST", "/mm7")
            if rsp.status != 200:
                raise SystemExit(f"answered {rsp.status}: {rsp.body[:300]!r}")

    with tempfile.TemporaryDirectory(prefix="mm7bind-cost-") as folder:
        store = _Counted(os.path.join(folder, "inbox.db"), durability=args.durability)
        receiver = mm7.Receiver(mm7.Handler(), store=store)
        receive(WARM_UP)
        started = time.process_time()
        receive(n)
        cpu = (time.process_time() - started) / n
        profile = cProfile.Profile()
        profile.enable()
        receive(n)
        profile.disable()
        calls = sum(row[1] for row in pstats.Stats(profile).stats.values()) / n
        store.trace(True)
        receive(n)
        store.trace(False)
        for db in store.connections:  # (every one: with durability "power", outcomes go through another)
            db.execute("PRAGMA wal_autocheckpoint=0")
        store.connections[0].execute("PRAGMA wal_checkpoint(TRUNCATE)")
        wal = os.path.join(folder, "inbox.db-wal")
        before = os.path.getsize(wal)
        receive(n)
        wal_bytes = (os.path.getsize(wal) - before) / n
        store.close()
    print(f"Receiver.handle, DeliverReq with a 10 KiB image, SqliteStore durability={args.durability!r}, "
          f"{n} messages each")
    print(f"  Python function calls per message  {calls:8.1f}")
    print(f"  SQL statements per message         {sum(_Counted.statements.values()) / n:8.2f}")
    for sql, count in _Counted.statements.most_common():
        print(f"    {count / n:6.2f}  {sql}")
    print(f"  WAL bytes per message              {wal_bytes:8.0f}")
    print(f"  CPU per message (load-dependent)   {cpu * 1e6:8.0f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
