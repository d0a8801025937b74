"""Metrics shared by several processes (`Metrics(shared_dir=)`): a scrape reaching any of them
sums every process's counters and histograms, those of processes that ended included, and a file
it cannot make sense of is left out with one WARNING, never breaking the scrape. Two `Metrics` on
one folder stand for two processes: each writes a file of its own."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time

import pytest

from mm7bind import metrics as metrics_module
from mm7bind.metrics import BUCKETS, Metrics

from .exposition import read_exposition

SENT_OK = 'mm7bind_sent_total{operation="SubmitReq",outcome="ok",status="1000"}'
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def own_files(folder) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.startswith("mm7bind-metrics-") and n.endswith(".json"))


def test_a_scrape_of_either_process_has_both_processes_counts_and_timings(tmp_path):
    one, other = Metrics(shared_dir=tmp_path / "metrics"), Metrics(shared_dir=tmp_path / "metrics")
    one.sent("SubmitReq", "ok", 1000, 1, 0.02)
    other.sent("SubmitReq", "ok", 1000, 2, 0.3)
    other.sent("SubmitReq", "refused", 4001, 1, 3.0)
    other.inc("my_jobs_total", 5, queue="a")
    one.flush()
    samples = read_exposition(other.render())  # (strictly: each histogram whole, +Inf bucket = count)
    assert samples[SENT_OK] == 2
    assert samples['mm7bind_sent_total{operation="SubmitReq",outcome="refused",status="4001"}'] == 1
    assert samples['mm7bind_send_attempts_total{operation="SubmitReq"}'] == 4
    assert samples['mm7bind_send_seconds_count{operation="SubmitReq"}'] == 3
    assert samples['mm7bind_send_seconds_sum{operation="SubmitReq"}'] == pytest.approx(3.32)
    assert samples['mm7bind_send_seconds_bucket{operation="SubmitReq",le="0.025"}'] == 1
    assert samples['mm7bind_send_seconds_bucket{operation="SubmitReq",le="0.5"}'] == 2
    assert samples['mm7bind_send_seconds_bucket{operation="SubmitReq",le="+Inf"}'] == 3
    assert samples['my_jobs_total{queue="a"}'] == 5
    assert read_exposition(one.render()) == samples  # (the scrape that wrote other's file first)
    assert "# TYPE my_jobs_total counter" in one.render()  # (its kind known from the other's file)
    assert len(own_files(tmp_path / "metrics")) == 2
    # In code, each its own.
    assert one.value("mm7bind_sent_total") == 1 and other.value("mm7bind_sent_total") == 2
    assert one.count("mm7bind_send_seconds") == 1


def test_the_totals_only_go_up_as_a_process_counts_on(tmp_path):
    one, other = Metrics(shared_dir=tmp_path), Metrics(shared_dir=tmp_path)
    one.inc("mm7bind_deviations_total", code="x")
    one.flush()
    assert read_exposition(other.render())['mm7bind_deviations_total{code="x"}'] == 1
    one.inc("mm7bind_deviations_total", 2, code="x")
    one.flush()
    other.inc("mm7bind_deviations_total", code="x")
    assert read_exposition(other.render())['mm7bind_deviations_total{code="x"}'] == 4
    # its own file counted once: its memory stands for it
    assert read_exposition(one.render())['mm7bind_deviations_total{code="x"}'] == 4


def test_a_change_reaches_the_file_by_itself_and_the_writer_ends_when_nothing_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(metrics_module, "WRITE_INTERVAL", 0.01)
    one, other = Metrics(shared_dir=tmp_path), Metrics(shared_dir=tmp_path)
    other.inc("mm7bind_deviations_total", code="y")
    one.inc("mm7bind_deviations_total", code="x")  # no flush, no render of its own
    deadline = time.monotonic() + 60  # (a bound for a slow machine, not a timing checked)
    while read_exposition(other.render()).get('mm7bind_deviations_total{code="x"}') != 1:
        assert time.monotonic() < deadline, "the change never reached the file"
        time.sleep(0.01)
    while any(t.name == "mm7bind-metrics-writer" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the writer kept running with nothing to write"
        time.sleep(0.01)


def test_a_process_that_ended_stays_counted_in_the_scrape_of_one_running(tmp_path):
    folder = tmp_path / "metrics"
    mine = Metrics(shared_dir=folder)
    mine.sent("SubmitReq", "ok", 1000, 1, 0.1)
    child = ("from mm7bind.metrics import Metrics\n"
             "import sys\n"
             "m = Metrics(shared_dir=sys.argv[1])\n"
             "m.sent('SubmitReq', 'ok', 1000, 3, 0.7)\n"
             "m.sent('SubmitReq', 'ok', 1000, 1, 0.7)\n")  # (no flush: written as the process ends)
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    subprocess.run([sys.executable, "-c", child, str(folder)], check=True, env=env, timeout=120)
    samples = read_exposition(mine.render())
    assert samples[SENT_OK] == 3
    assert samples['mm7bind_send_attempts_total{operation="SubmitReq"}'] == 5
    assert samples['mm7bind_send_seconds_bucket{operation="SubmitReq",le="1"}'] == 3
    assert mine.value("mm7bind_sent_total") == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_a_forked_worker_counts_in_a_file_of_its_own_from_nothing(tmp_path):
    """As gunicorn's workers forked after `--preload`: what the parent counted before is the
    parent's, in its file; counted again in the child's it would be summed twice."""
    mine = Metrics(shared_dir=tmp_path)
    mine.inc("mm7bind_deviations_total", code="x")
    mine.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        try:
            mine.inc("mm7bind_deviations_total", code="x")
            mine.flush()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert len(own_files(tmp_path)) == 2
    assert read_exposition(mine.render())['mm7bind_deviations_total{code="x"}'] == 2


def write(folder, name: str, doc) -> None:
    (folder / name).write_bytes(doc if isinstance(doc, bytes) else json.dumps(doc).encode())


def good(n: float = 1) -> dict:
    return {"format": 1, "counters": [["mm7bind_deviations_total", [["code", "x"]], n]], "histograms": []}


def test_a_file_that_makes_no_sense_is_left_out_with_one_warning_and_the_rest_summed(tmp_path, caplog):
    write(tmp_path, "mm7bind-metrics-11-00000000000000aa.json", good(2))
    cut = json.dumps(good()).encode()[:40]
    bad = {
        "mm7bind-metrics-12-00000000000000bb.json": cut,  # cut short
        "mm7bind-metrics-13-00000000000000cc.json": b"\xff\xfe not text",
        "mm7bind-metrics-14-00000000000000dd.json": {**good(), "format": 99},
        "mm7bind-metrics-15-00000000000000ee.json": good(-5),  # a counter going down
        "mm7bind-metrics-16-00000000000000ff.json": {  # a counter's name as a histogram
            "format": 1, "counters": [], "histograms": [["mm7bind_deviations_total", [], [0] * len(BUCKETS), 0, 0]]},
        "mm7bind-metrics-17-0000000000000011.json": {  # buckets not these
            "format": 1, "counters": [], "histograms": [["h_seconds", [], [1], 1.0, 1]]},
        "mm7bind-metrics-18-0000000000000022.json": {  # a label name the format refuses
            "format": 1, "counters": [["a_total", [["__x", "1"]], 1]], "histograms": []},
        "mm7bind-metrics-19-0000000000000033.json": b"[" * 100_000,  # nested past the parser's depth
    }
    for name, doc in bad.items():
        write(tmp_path, name, doc)
    write(tmp_path, "notes.json", b"not ours")  # another program's files, and one being written
    write(tmp_path, ".mm7bind-metrics-abc.tmp", b"{")
    mine = Metrics(shared_dir=tmp_path)
    mine.inc("mm7bind_deviations_total", code="x")
    with caplog.at_level(logging.WARNING, logger="mm7bind.metrics"):
        samples = read_exposition(mine.render())
        assert samples == {'mm7bind_deviations_total{code="x"}': 3}
        said = [r.getMessage() for r in caplog.records]
        assert len(said) == len(bad)
        for name in bad:
            assert sum(name in line for line in said) == 1
        assert not any("notes.json" in line or ".tmp" in line for line in said)
        caplog.clear()
        assert read_exposition(mine.render()) == samples  # said once, not a line a scrape
        assert caplog.records == []


def test_a_file_too_large_or_too_many_files_cannot_take_a_scrapes_memory(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(metrics_module, "MAX_SHARED_FILE_BYTES", 200)
    large = good()
    large["counters"].append(["mm7bind_deviations_total", [["code", "y" * 300]], 1])
    write(tmp_path, "mm7bind-metrics-11-00000000000000aa.json", large)
    mine = Metrics(shared_dir=tmp_path)
    mine.inc("mm7bind_deviations_total", code="x")
    with caplog.at_level(logging.WARNING, logger="mm7bind.metrics"):
        assert read_exposition(mine.render()) == {'mm7bind_deviations_total{code="x"}': 1}
    assert "larger than 200 bytes" in caplog.text
    caplog.clear()

    monkeypatch.setattr(metrics_module, "MAX_SHARED_FILES", 3)
    (tmp_path / "mm7bind-metrics-11-00000000000000aa.json").unlink()
    for i in range(6):
        write(tmp_path, f"mm7bind-metrics-{20 + i}-00000000000000aa.json", good())
    with caplog.at_level(logging.WARNING, logger="mm7bind.metrics"):
        assert read_exposition(mine.render()) == {'mm7bind_deviations_total{code="x"}': 4}
    assert "more than 3 files" in caplog.text

    monkeypatch.setattr(metrics_module, "MAX_SHARED_FILES", 10)
    monkeypatch.setattr(metrics_module, "MAX_SHARED_SERIES", 2)
    write(tmp_path, "mm7bind-metrics-30-00000000000000aa.json", good())
    write(tmp_path, "mm7bind-metrics-31-00000000000000aa.json", {**good(), "counters": [
        ["mm7bind_deviations_total", [["code", c]], 1] for c in "abc"]})
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mm7bind.metrics"):
        assert read_exposition(mine.render()) == {'mm7bind_deviations_total{code="x"}': 8}
    assert "more than 2 label sets" in caplog.text


def test_gauges_are_read_live_not_summed_over_the_processes(tmp_path):
    one, other = Metrics(shared_dir=tmp_path), Metrics(shared_dir=tmp_path)
    for each in (one, other):
        each.gauge("mm7bind_outbox_items", lambda: [({"state": "queued"}, 4)])
        each.inc("mm7bind_deviations_total", code="x")
    one.flush()
    samples = read_exposition(other.render())
    assert samples['mm7bind_outbox_items{state="queued"}'] == 4
    assert samples['mm7bind_deviations_total{code="x"}'] == 2
    assert "outbox" not in (tmp_path / own_files(tmp_path)[0]).read_text()


def test_the_metrics_dir_setting_is_checked(tmp_path):
    from mm7bind.config import load

    def problems(extra: str) -> list[str]:
        path = tmp_path / "check.toml"
        path.write_text(f"[receiver]\n{extra}", encoding="utf-8")
        return [str(p) for p in load(str(path), env={})[1] if "metrics_dir" in str(p)]

    (tmp_path / "a-file").write_text("")
    assert problems(f'metrics_dir = "{tmp_path / "m"}"\n') == [
        "warning: receiver.metrics_dir: set without metrics_path: nothing is counted"]
    assert problems(f'metrics_path = "/metrics"\nmetrics_dir = "{tmp_path / "a-file"}"\n') == [
        f"error: receiver.metrics_dir: {tmp_path / 'a-file'} is not a folder"]
    assert problems(f'metrics_path = "/metrics"\nmetrics_dir = "{tmp_path / "m"}"\n') == []
    cfg, _ = load(str(tmp_path / "check.toml"), env={"MM7BIND_RECEIVER_METRICS_DIR": str(tmp_path / "n")})
    assert cfg.receiver.metrics_dir == str(tmp_path / "n")


def test_a_temporary_file_a_killed_process_left_is_removed_once_stale(tmp_path):
    """A process killed while writing its file leaves its temporary one: a scrape removes it once
    no write could still be at it, and leaves one that may be."""
    stale, fresh = tmp_path / ".mm7bind-metrics-1-x.tmp", tmp_path / ".mm7bind-metrics-2-y.tmp"
    stale.write_text("{")
    fresh.write_text("{")
    old = time.time() - metrics_module.STALE_TEMPORARY - 60
    os.utime(stale, (old, old))
    metrics = Metrics(shared_dir=tmp_path)
    metrics.inc("mm7bind_deviations_total", code="x")
    read_exposition(metrics.render())
    assert not stale.exists() and fresh.exists()
