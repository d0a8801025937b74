"""Benchmarks, each run side by side with a baseline doing the same job the plain way.

    python -m benchmarks            a table: case, ours, baseline, ratio, target, verdict
    python -m benchmarks --json     the same as JSON
    python -m benchmarks --only encode --quick

Times are the median of repeated batches (interleaved with the baseline's, so both see the same
machine load). Memory cases run in a fresh subprocess each and report its peak RSS.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time

from . import cases


def median_time(fn, min_time: float) -> float:
    """Seconds per call: median over batches of a size that takes ~min_time/10."""
    fn()
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt > min_time / 10 or n > 1_000_000:
            break
        n *= 2
    return dt / n, n


def compare(ours, base, min_time: float, rounds: int = 7) -> tuple[float, float]:
    _, n_ours = median_time(ours, min_time)
    _, n_base = median_time(base, min_time)
    a, b = [], []
    for _ in range(rounds):  # interleaved
        t0 = time.perf_counter()
        for _ in range(n_ours):
            ours()
        a.append((time.perf_counter() - t0) / n_ours)
        t0 = time.perf_counter()
        for _ in range(n_base):
            base()
        b.append((time.perf_counter() - t0) / n_base)
    return statistics.median(a), statistics.median(b)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quick", action="store_true", help="shorter runs (noisier)")
    p.add_argument("--only", action="append", metavar="NAME",
                   help="run only cases whose name starts with NAME (repeatable)")
    args = p.parse_args(argv)
    min_time = 0.3 if args.quick else 1.5
    results = []
    chosen = [c for c in cases.all_cases() if not args.only or any(c.name.startswith(o) for o in args.only)]
    if not chosen:
        p.error(f"no case starts with {', '.join(args.only)}")
    for case in chosen:
        with case:
            if case.kind == "memory":
                r = case.run_memory()
            elif case.kind == "rate":
                r = case.run_rate(min_time)
            else:
                ours, base = compare(case.ours, case.baseline, min_time)
                r = case.result(ours, base)
        results.append(r)
        if not args.json:
            print(cases.format_row(r), flush=True)
    meta = {"python": platform.python_version(), "machine": platform.machine(), "cpus": cases.cpu_count()}
    if args.json:
        print(json.dumps({"meta": meta, "results": results}, indent=2))
    else:
        failed = [r["name"] for r in results if r.get("met") is False]
        print(f"\n{len(results)} cases; targets missed: {', '.join(failed) if failed else 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
