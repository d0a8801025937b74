"""Shortcuts taken for well-formed, valid input must read exactly what the general path reads.

Decoding validates while parsing when the bytes name one MM7 namespace; the result (message,
version, TransactionID, deviations) must be the same as parsing first and validating the tree.
"""

from __future__ import annotations

import pytest

import mm7bind as mm7
from mm7bind import envelope
from mm7bind import messages as m

from . import test_tolerance as quirks
from .builders import full_message
from .conftest import sample_files
from .test_corpus import ENVELOPE


def _both_ways(data: bytes, monkeypatch) -> None:
    try:
        fast = mm7.decode_envelope(data)
    except mm7.DecodeError as exc:
        fast = exc
    with monkeypatch.context() as mp:
        mp.setattr(envelope, "_sniff_version", lambda data: None)
        try:
            slow = mm7.decode_envelope(data)
        except mm7.DecodeError as exc:
            slow = exc
    if isinstance(slow, Exception):
        assert type(fast) is type(slow) and str(fast) == str(slow)
        return
    assert not isinstance(fast, Exception), fast
    assert (fast.body, fast.version, fast.transaction_id) == (slow.body, slow.version, slow.transaction_id)
    assert fast.deviations == slow.deviations


def _documents() -> list[bytes]:
    docs = []
    for version in mm7.versions.all_versions():
        for ncls in m.MESSAGE_TYPES.values():
            if version.element_class(ncls.ELEMENT) is None:
                continue
            docs.append(mm7.encode_envelope(full_message(ncls, version), transaction_id="t-1", version=version))
    for name in dir(quirks):
        value = getattr(quirks, name)
        if name.isupper() and isinstance(value, str) and "{ns}" in value:
            docs.append(quirks.envelope(value))
    # Valid as sent but for one value, and valid but for the TransactionID's namespace.
    good = mm7.encode_envelope(mm7.SubmitRsp(message_id="m-1"), transaction_id="t-1", version="REL-6-MM7-1-4")
    docs.append(good.replace(b"<StatusCode>1000", b"<StatusCode>x1000"))
    docs.append(good.replace(b"<TransactionID ", b'<TransactionID xmlns="urn:other" '))
    docs.append(good.replace(b"<SubmitRsp>", b"<submitrsp>").replace(b"</SubmitRsp>", b"</submitrsp>"))
    return docs


@pytest.mark.parametrize("index", range(len(_documents())))
def test_validating_while_parsing_reads_the_same(index, monkeypatch):
    _both_ways(_documents()[index], monkeypatch)


def test_sniffing_needs_one_mm7_namespace():
    one = mm7.encode_envelope(mm7.SubmitRsp(message_id="m-1"), transaction_id="t", version="REL-5-MM7-1-2")
    assert envelope._sniff_version(one) is mm7.versions.get("REL-5-MM7-1-2")
    two = one.replace(b"<TransactionID ", b'<TransactionID xmlns="' + mm7.versions.get("REL-6-MM7-1-4").namespace.encode() + b'" ')
    assert envelope._sniff_version(two) is None
    assert envelope._sniff_version(b"<a xmlns='urn:x'/>") is None


@pytest.mark.skipif(not sample_files(), reason="reference samples not present")
def test_corpus_reads_the_same(monkeypatch):
    seen = 0
    for path in sample_files():
        for found in ENVELOPE.finditer(path.read_bytes()):
            _both_ways(found.group(0), monkeypatch)
            seen += 1
    assert seen > 10


def test_a_valid_document_is_not_validated_twice(monkeypatch):
    data = mm7.encode_envelope(mm7.SubmitRsp(message_id="m-1"), transaction_id="t", version="REL-6-MM7-1-4")

    def second_pass(*a):
        raise AssertionError("validated again after a validating parse")

    monkeypatch.setattr(envelope, "validate_element", second_pass)
    assert mm7.decode_envelope(data).body.message_id == "m-1"
