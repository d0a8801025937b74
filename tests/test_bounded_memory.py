"""A 50 MB attachment goes file → wire → file in bounded memory (functional check; the peak RSS
figure is reported by `python -m benchmarks`, not asserted here)."""

from __future__ import annotations

import hashlib
import os
import tracemalloc

import mm7bind as mm7
from mm7bind.content import FileBlob, SpooledBlob

SIZE = 50 * 1000 * 1000


def test_fifty_megabytes_in_bounded_memory(tmp_path):
    source = tmp_path / "clip.mp4"
    digest = hashlib.sha256()
    with open(source, "wb") as f:
        for _ in range(SIZE // 1_000_000):
            block = os.urandom(1_000_000)
            digest.update(block)
            f.write(block)
    content = mm7.Content()
    part = content.add_file(source, "video/mp4")
    assert isinstance(part.blob, FileBlob)
    msg = mm7.SubmitReq(recipients=["+8613800000000"], content=content)
    wire = tmp_path / "body"
    tracemalloc.start()
    try:
        for cte in ("binary", "base64"):
            out = mm7.encode(msg, transaction_id="big", profile=mm7.Profile(transfer_encoding=cte))
            with open(wire, "wb") as f:
                while chunk := out.body.read(256 * 1024):
                    f.write(chunk)
            assert wire.stat().st_size == out.length
            with open(wire, "rb") as f:
                env = mm7.decode(f, out.content_type)
            got = env.body.content.parts[0]
            assert isinstance(got.blob, SpooledBlob) and got.size == SIZE
            assert got.sha256() == digest.hexdigest()
            del env, got
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Python allocations stay a small multiple of the 1 MiB read buffer and 4 MiB spool threshold.
    assert peak < 16 * 1024 * 1024, f"peak Python allocation {peak / 2**20:.1f} MiB"
