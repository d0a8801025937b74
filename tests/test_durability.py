"""What an acknowledged message needs to survive: a power cut after the answer (files flushed
before the store says "handled"), a store locked by another program (answered in time), a
store file damaged on disk (found by a check)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import mm7bind as mm7
from mm7bind.handlers import SavingHandler
from mm7bind.store import SqliteStore

from .test_receiver import deliver, post


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "inbox.db")
    yield s
    s.close()


def _name_of(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


needs_proc = pytest.mark.skipif(not Path("/proc/self/fd").is_dir() or os.name != "posix",
                                reason="names a file descriptor through /proc")


@needs_proc
def test_saved_files_reach_the_disk_before_their_folder_is_named_and_the_rename_after(store, tmp_path, monkeypatch):
    events = []
    fsync, rename = os.fsync, os.rename

    def recording_fsync(fd):
        events.append(("fsync", _name_of(fd)))
        return fsync(fd)

    def recording_rename(src, dst, *a, **kw):
        events.append(("rename", os.fspath(src), os.fspath(dst)))
        return rename(src, dst, *a, **kw)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "rename", recording_rename)
    out = (tmp_path / "received").resolve()
    app = mm7.wsgi_app(mm7.Receiver(SavingHandler(out, echo=lambda line: None), store=store))
    msg = deliver(content=mm7.Content(parts=[mm7.Part.text("你好", filename="a.txt")]))
    assert post(app, msg, tid="d-1")["status"] == 200
    [folder] = (out / "DeliverReq").iterdir()
    assert store.inbox()[0].state == "handled"
    [at] = [i for i, e in enumerate(events) if e[0] == "rename" and e[2] == str(folder)]
    work = events[at][1]
    before = {e[1] for e in events[:at] if e[0] == "fsync"}
    after = {e[1] for e in events[at:] if e[0] == "fsync"}
    written = {os.path.join(work, p.name) for p in folder.iterdir()}
    assert len(written) == 3 and written <= before  # message.json and both parts (the SMIL made for them)
    assert work in before  # the work folder's entries, then
    # the rename itself; and out/ and out/DeliverReq, made for this first message, are named on disk too
    assert {str(out / "DeliverReq"), str(out), str(tmp_path.resolve())} <= after


def test_a_flush_that_fails_fails_the_message_so_it_is_not_marked_handled(store, tmp_path, monkeypatch):
    def failing_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    out = tmp_path / "received"
    app = mm7.wsgi_app(mm7.Receiver(SavingHandler(out, echo=lambda line: None), store=store))
    assert post(app, deliver(), tid="d-2")["status"] == 500  # the MMSC sends it again
    [rec] = store.inbox()
    assert rec.state == "failed" and "Input/output error" in rec.error
    assert not list((out / "DeliverReq").iterdir())  # no folder, nor the half-done work folder


def test_the_configured_saving_handler_flushes_as_the_store_does(tmp_path):
    from mm7bind.config import Config

    cfg = Config()
    assert cfg.make_handler().sync is True
    cfg.store.durability = "process"
    assert cfg.make_handler().sync is False
