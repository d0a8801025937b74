"""Shared test helpers: the reference sample folder (used in place when present)."""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run (a run that passed passes again, one that
# failed fails again); HYPOTHESIS_PROFILE=explore draws new ones each run, to hunt for bugs.
settings.register_profile("fixed", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", print_blob=True)
settings.load_profile("explore" if os.environ.get("HYPOTHESIS_PROFILE") == "explore" else "fixed")

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = Path(os.environ.get("MM7BIND_SAMPLES", ROOT.parent / "shared" / "reference" / "samples"))


def sample_files() -> list[Path]:
    if not SAMPLES.is_dir():
        return []
    return sorted(p for p in SAMPLES.iterdir() if p.is_file() and p.name != "INDEX.md")


def inbound_captures():
    """(name, body, content type, decoded envelope) of every Deliver and report capture that is
    well-formed as published (the others are the corpus tests' business, see INDEX.md)."""
    import mm7bind as mm7  # noqa: PLC0415
    from mm7bind.codec import split_http  # noqa: PLC0415

    for path in sample_files():
        if not any(k in path.name for k in ("deliver-req", "deliver_req", "delivery_report_req", "caixin",
                                            "Sender_delivery")):
            continue
        _, headers, body = split_http(path.read_bytes())
        ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
        try:
            env = mm7.decode(body, ctype)
        except mm7.DecodeError:
            continue
        yield path.name, body, ctype, env


@pytest.fixture(params=[False, True], ids=["waitress", "tls"])
def server_tls(request):
    """(server ssl_context, client wrap) for the embedded server in both of its forms: waitress
    for plain HTTP (None), the standard library's WSGI server for TLS."""
    if not request.param:
        return None, lambda sock: sock
    from .tls import local_tls  # noqa: PLC0415

    tls = local_tls()
    return tls.server, lambda sock: tls.client.wrap_socket(sock, server_hostname="127.0.0.1")


@pytest.fixture(params=["sqlite", "memory"])
def store(request, tmp_path):
    """Each kind of store: a test taking `store` runs once over an SQLite file, once in memory
    (a module that needs SQLite alone defines its own `store`)."""
    from mm7bind.store import MemoryStore, SqliteStore  # noqa: PLC0415

    s = SqliteStore(tmp_path / "vasp.db") if request.param == "sqlite" else MemoryStore()
    yield s
    s.close()


@contextlib.contextmanager
def inbox_file_before(path, column: str):
    """A store file as a release before the inbox's `column` wrote it (both schemas, as such a store
    made them: how an unmarked file is known as ours), and the connection to fill it, committed and
    closed after."""
    import sqlite3

    from mm7bind import store as store_module

    previous = store_module.INBOX_SCHEMA.replace(f",\n    {column} TEXT", "")
    assert previous != store_module.INBOX_SCHEMA
    db = sqlite3.connect(path)
    try:
        with db:
            db.executescript(store_module.SENT_SCHEMA + previous)
            yield db
    finally:
        db.close()


@contextlib.contextmanager
def serve_in_this_process():
    """Around `cli.main(["serve", ...])` run in the test's own process: serve's signal handlers
    (SIGINT, SIGTERM, SIGHUP) and the handlers it puts on the mm7bind and waitress loggers are
    put back as they were after, those it added closed (their log files let go), so that the
    rest of the suite runs with pytest's. Yields each logger's handlers as they were before."""
    import logging
    import signal

    signals = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    loggers = {name: list(logging.getLogger(name).handlers) for name in ("mm7bind", "waitress")}
    try:
        yield {name: list(handlers) for name, handlers in loggers.items()}
    finally:
        for sig, handler in signals.items():
            signal.signal(sig, handler)
        for name, handlers in loggers.items():
            for handler in set(logging.getLogger(name).handlers) - set(handlers):
                logging.getLogger(name).removeHandler(handler)
                handler.close()


@contextlib.contextmanager
def traced_memory():
    """Python's allocations while the block runs, measured by tracemalloc: `peak`, the most held
    at once; `held`, what is still held at its end once garbage is collected (what was set up
    before the block, a first call's caches, is not counted). Read both after the block."""
    import gc
    import tracemalloc
    from types import SimpleNamespace

    memory = SimpleNamespace(peak=None, held=None)
    tracemalloc.start()
    try:
        yield memory
        gc.collect()
        memory.held, memory.peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()


@pytest.fixture
def inflater_feeds(monkeypatch) -> list[int]:
    """The compressed bytes each call of a zlib inflater is given, in order: what an inflater is
    fed again after a member's end shows in their sum (a copy of the rest each time: quadratic)."""
    import zlib

    fed: list[int] = []
    real = zlib.decompressobj

    class Counting:
        def __init__(self, *args, **kwargs):
            self.inflater = real(*args, **kwargs)

        def decompress(self, data, *args):
            fed.append(len(data))
            return self.inflater.decompress(data, *args)

        def __getattr__(self, name):
            return getattr(self.inflater, name)

    monkeypatch.setattr(zlib, "decompressobj", Counting)
    return fed


@pytest.fixture
def samples_dir() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip("reference samples are not present")
    return SAMPLES


@pytest.fixture(autouse=True)
def every_envelope_we_emit_is_schema_valid(monkeypatch):
    """Whatever a test sends, receives or answers: each SOAP envelope mm7bind writes is checked
    here with lxml against its version's schema, independently of the encoder's own proof or check
    (tests that switch validation off write invalid documents on purpose and are left alone)."""
    from lxml import etree  # noqa: PLC0415

    import mm7bind  # noqa: PLC0415
    from mm7bind import envelope, versions  # noqa: PLC0415
    from mm7bind.validation import validate_element  # noqa: PLC0415
    from mm7bind.xmlsafe import hardened_parser  # noqa: PLC0415

    real = envelope.encode

    @functools.wraps(real)  # (its docstring and signature, which the documentation tests read)
    def checked(body, **kw):
        data = real(body, **kw)
        if kw.get("validate", True):
            style = kw.get("style")
            # (undeclared, the bytes' encoding is the charset parameter's: read as it names them)
            doc = data.decode(style.encoding).encode() if style is not None and not style.xml_declaration else data
            issues = validate_element(etree.fromstring(doc, hardened_parser()), versions.get(kw["version"]))
            assert issues == [], f"mm7bind wrote an invalid envelope: {issues}\n{data[:2000]!r}"
        return data

    monkeypatch.setattr(envelope, "encode", checked)
    monkeypatch.setattr(mm7bind, "encode_envelope", checked)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Captured output with lone surrogates (tests feed the receiver text UTF-8 cannot hold, and
    its logs show it) written as escapes: pytest-xdist sends each report to the controller as
    UTF-8, and one such character ended the worker and the whole run."""
    report = (yield).get_result()
    report.sections = [(title, _utf8_safe(text)) for title, text in report.sections]
    if isinstance(report.longrepr, str):
        report.longrepr = _utf8_safe(report.longrepr)


def _utf8_safe(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
