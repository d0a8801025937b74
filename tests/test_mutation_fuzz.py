"""Seeded mutation fuzz: real captures and messages of our own, broken in the ways hostile or
careless peers break them, go through `mm7bind.decode` and `Receiver.handle`.

Each case is reproducible from SEED and its index (the failure message names both and the
mutations applied). `decode` must give an Envelope or raise a DecodeError, nothing else;
`handle` must answer every request (a Client Fault, a 413 or a 415: never an internal error), and
a request answered 1000 must be in the store. The reference captures are used in place where
present; the messages mm7bind writes itself are fuzzed either way. MM7BIND_FUZZ_SEED and
MM7BIND_FUZZ_SCALE (a multiple of the case counts) run it longer, or from elsewhere.
"""

from __future__ import annotations

import gzip
import logging
import os
import random
import re
from datetime import UTC, datetime

import pytest

import mm7bind as mm7
from mm7bind.codec import split_http
from mm7bind.store import SqliteStore

from .conftest import sample_files

SEED = int(os.environ.get("MM7BIND_FUZZ_SEED", "20261127"))
SCALE = float(os.environ.get("MM7BIND_FUZZ_SCALE", "1"))
DECODE_CASES = int(700 * SCALE)
RECEIVER_CASES = int(250 * SCALE)


def _own_messages() -> list[tuple[str, bytes, str | None]]:
    stamp = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    content = mm7.Content()
    content.add_text("hello 你好")
    content.add_bytes(b"GIF89a" + bytes(range(256)), "image/gif")
    messages = [
        mm7.DeliverReq(sender="+8613800000000", recipients=["1065"], subject="hi", content=content),
        mm7.DeliveryReportReq(sender="+8613800000000", recipient="+8613900000000", message_id="m-1",
                              mm_status="Retrieved", date=stamp),
        mm7.ReadReplyReq(message_id="m-1", recipient="+8613800000000", sender="1065888", time_stamp=stamp,
                         mm_status=mm7.ReadStatus.READ),
        mm7.SubmitReq(recipients=["+8613900000000"], subject="s", content=content),
    ]
    out = []
    for msg in messages:
        for version in ("REL-5-MM7-1-0", "REL-6-MM7-1-4"):
            http = mm7.encode(msg, transaction_id="t-1", version=version)
            out.append((f"own {msg.ELEMENT} {version}", http.to_bytes(), http.content_type))
    return out


def _captures() -> list[tuple[str, bytes, str | None]]:
    out = []
    for path in sample_files():
        data = path.read_bytes()
        try:
            _, headers, body = split_http(data)
        except mm7.DecodeError:
            headers, body = {}, data
        ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
        if len(body) <= 64 * 1024:  # (the 400 KB capture: its copies would take the run's time)
            out.append((path.name, body, ctype))
    return out


SEEDS = _own_messages() + _captures()

# -- mutations: each (rng, body, content type) -> (body, content type) -------------------------

_INSERTS = [b"<", b">", b"&", b"<x>", b"</y>", b"\xff\xfe", b'"', b"]]>", b"\r\n", b"\n--", b";", b"\x00",
            b"cid:", b"&#0;", b"&#x110000;", b"<![CDATA[", b"<?pi x?>", b"<!--", b"\r\n\r\n", b"=?utf-8?b?////?="]
_CHARSETS = ["bogus", "utf-16", "utf-32", "cp037", "gb2312", "", '"', "rot13", "base64", "zlib", "utf-7",
             "unicode_escape", "utf:8", "x" * 300]
_VALUES = [b"", b"9" * 400, b"NaN", b"-1", b"\xd9\xa1\xd9\xa2", b"2024-13-45T25:61:61+99:99", b"2024-1-2T3:4:5+8",
           b"P99999999999999Y", b"PT", b"&#xD800;", b"&amp;amp;", b"=?gb2312?q?=ff=fe?=", b"\xe2\x80\xae",
           b"99999999999999999999999", b"99.99.99", b"<![CDATA[x]]>", b"Bogus", b"a" * 5000, b"&#x9;&#xA;",
           b"9999-12-31T23:59:59-14:00", b"0001-01-01T00:00:00+14:00"]
_TEXT = re.compile(rb">([^<>]{0,200})<")


def truncate(rng, b, ct):
    return b[: rng.randrange(len(b) + 1)], ct


def flip(rng, b, ct):
    b = bytearray(b)
    for _ in range(rng.randint(1, 8)):
        if b:
            b[rng.randrange(len(b))] = rng.randrange(256)
    return bytes(b), ct


def insert(rng, b, ct):
    at = rng.randint(0, len(b))
    return b[:at] + rng.choice(_INSERTS) + b[at:], ct


def delete(rng, b, ct):
    at = rng.randint(0, len(b))
    return b[:at] + b[at + rng.randint(1, 60):], ct


def _boundary_lines(rng, b, ct, keep: bool):
    lines = b.split(b"\n")
    marks = [i for i, line in enumerate(lines) if line.startswith(b"--")]
    if marks:
        i = rng.choice(marks)
        lines[i:i + 1] = [lines[i]] * (2 if keep else 0)
    return b"\n".join(lines), ct


def duplicate_boundary(rng, b, ct):
    return _boundary_lines(rng, b, ct, True)


def drop_boundary(rng, b, ct):
    return _boundary_lines(rng, b, ct, False)


def content_type(rng, b, ct):
    base = ct or ""
    return b, rng.choice([
        f'multipart/related; boundary="{rng.choice(["", "x", "--", " ", "a" * 300, chr(92)])}"',
        f'multipart/related; type="text/xml"; start="<{rng.choice(["", "x", "<>"])}>"',
        f"text/xml; charset={rng.choice(_CHARSETS)}",
        base + f"; charset={rng.choice(_CHARSETS)}",
        base.replace("boundary", "BOUNDARY"), base + '; boundary="x y"', base.replace('"', ""),
        "multipart/mixed", "multipart/", "", ";;;", "application/xml; charset=\"", "image/gif",
        "multipart/related; boundary=" + bytes(rng.randrange(256) for _ in range(6)).decode("latin-1"),
    ])


def nest_multiparts(rng, b, ct):
    for depth in range(rng.choice([3, 8, 60])):
        b = (b'--b%d\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n' % (depth, depth + 1)
             + b + b"\r\n--b%d--\r\n" % depth)
    return b, 'multipart/related; boundary="b0"'


def doctype(rng, b, ct):
    at = max(b.find(b"<"), 0)
    return b[:at] + rng.choice([b'<!DOCTYPE e [<!ENTITY x "y">]>', b'<!DOCTYPE x SYSTEM "file:///etc/passwd">',
                                b'<!ENTITY x "y">', b"<!doctype"]) + b[at:], ct


def huge_attribute(rng, b, ct):
    at = b.find(b"Envelope ")
    if at < 0:
        return b, ct
    return b[:at + 9] + b' z="' + b"A" * rng.choice([1000, 200_000]) + b'" ' + b[at + 9:], ct


def deep_elements(rng, b, ct):
    at = b.find(b"</", max(b.find(b"Body"), 0))
    if at < 0:
        return b, ct
    depth = rng.choice([20, 100, 3000])
    return b[:at] + b"<a>" * depth + b"</a>" * depth + b[at:], ct


def bad_header_bytes(rng, b, ct):
    lines = b.split(b"\n")
    heads = [i for i, line in enumerate(lines) if b":" in line and line[:1].isalpha() and b"<" not in line]
    if heads:
        i = rng.choice(heads)
        lines[i] = lines[i].rstrip(b"\r") + rng.choice([
            b"\xff\xfe\xc3", b'; name="\xe4\xb8"', b"\x00", b'; charset="\xff"', b"; filename*=utf-8''%ff%fe",
            b"; x*0=a; x*1=b", b" =?utf-8?b?////?="]) + b"\r"
    return b"\n".join(lines), ct


def nul_bytes(rng, b, ct):
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(b))
        b = b[:at] + b"\x00" + b[at:]
    return b, ct


def line_ends(rng, b, ct):
    b = b.replace(b"\r\n", b"\n") if rng.random() < 0.5 else b.replace(b"\n", b"\r\n")
    return (b.replace(b"\n", b"\r", rng.randint(1, 5)) if rng.random() < 0.5 else b), ct


def text_value(rng, b, ct):
    found = list(_TEXT.finditer(b))
    if not found:
        return b, ct
    m = rng.choice(found)
    return b[:m.start(1)] + rng.choice(_VALUES) + b[m.end(1):], ct


MUTATIONS = [truncate, flip, insert, delete, duplicate_boundary, drop_boundary, content_type, nest_multiparts,
             doctype, huge_attribute, deep_elements, bad_header_bytes, nul_bytes, line_ends, text_value]


def mutated(rng: random.Random) -> tuple[str, bytes, str | None, list[str]]:
    name, body, ct = rng.choice(SEEDS)
    applied = []
    for _ in range(rng.randint(1, 3)):
        mutation = rng.choice(MUTATIONS)
        body, ct = mutation(rng, body, ct)
        applied.append(mutation.__name__)
    return name, body, ct, applied


def test_the_fuzz_has_messages_of_its_own_and_every_mutation():
    assert len(SEEDS) >= 8 and len({f.__name__ for f in MUTATIONS}) == len(MUTATIONS) == 15


def test_mutated_input_decodes_or_raises_a_decode_error():
    rng = random.Random(SEED)
    decoded = refused = 0
    for case in range(DECODE_CASES):
        name, body, ct, applied = mutated(rng)
        strict = rng.random() < 0.2
        try:
            env = mm7.decode(body, ct, strict=strict)
        except mm7.DecodeError:
            refused += 1
            continue
        except Exception as exc:  # noqa: BLE001 (the point: any other type is the finding)
            pytest.fail(f"seed {SEED} case {case} ({name}, {applied}, Content-Type {ct!r}, strict={strict}): "
                        f"{type(exc).__name__}: {exc}")
        assert env.is_fault or env.body is not None
        decoded += 1
    assert decoded > 50 and refused > 50  # (the mutations neither all harmless nor all fatal)


_CODE = re.compile(rb"<(?:[\w-]+:)?StatusCode>\s*(\d+)")
_TID = re.compile(rb"<(?:[\w-]+:)?TransactionID[^>]*>([^<]*)<")
_FAULTCODE = re.compile(rb"<faultcode>([^<]*)</faultcode>")


def _gzipped(rng, body):
    data = bytearray(gzip.compress(body))
    damage = rng.random()
    if damage < 0.3:
        del data[rng.randrange(len(data)):]
    elif damage < 0.6:
        for _ in range(3):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif damage < 0.7:
        data += b"trailing"
    return bytes(data), rng.choice(["gzip", "x-gzip", "deflate", "gzip, gzip", "br"])


def test_the_receiver_answers_mutated_requests_and_keeps_what_it_took(tmp_path, caplog):
    store = SqliteStore(tmp_path / "fuzz.db")
    receiver = mm7.Receiver(store=store)
    rng = random.Random(SEED)
    answers = {}
    caplog.set_level(logging.WARNING, logger="mm7bind")
    for case in range(RECEIVER_CASES):
        name, body, ct, applied = mutated(rng)
        headers = {"SOAPAction": '""'}
        if rng.random() < 0.15:
            body, headers["Content-Encoding"] = _gzipped(rng, body)
            applied.append("gzip " + headers["Content-Encoding"])
        where = f"seed {SEED} case {case} ({name}, {applied}, Content-Type {ct!r})"
        before = len(store.inbox_ids())
        caplog.clear()
        rsp = receiver.handle(body, ct, headers, peer="127.0.0.1")
        assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], where
        answers[rsp.status] = answers.get(rsp.status, 0) + 1
        assert rsp.status in (200, 413, 415, 500), where
        fault = _FAULTCODE.search(rsp.body)
        assert fault is None or fault.group(1).endswith(b"Client"), (where, rsp.body[:500])
        code = _CODE.search(rsp.body)
        answered = rsp.status == 200 and code is not None and code.group(1) == b"1000"
        if answered and len(store.inbox_ids()) == before:  # a copy: the one it repeats was taken before
            tid = _TID.search(rsp.body).group(1).decode()
            kind = re.search(rb"<(?:[\w-]+:)?(\w+)Rsp\b", rsp.body).group(1).decode() + "Req"
            taken = store.inbox(kind=kind)
            # (by its TransactionID; a report also as one already taken with another, and a
            # DeliverReq without one by what it says)
            assert any(r.transaction_id == tid for r in taken) or (
                (kind != "DeliverReq" or not tid) and taken), where
    assert answers.get(200, 0) > 10 and answers.get(500, 0) > 50, answers
