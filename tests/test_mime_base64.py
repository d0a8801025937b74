"""Base64 parts as senders get them wrong: joined runs, the URL-safe alphabet, junk, cut short."""

from __future__ import annotations

import base64
import io
import random

import pytest

from mm7bind.mime import DEFAULT_MIME_LIMITS, MimeError, read_multipart

from .streams import Trickle

# Binary, and fixed: random bytes ending in CR or LF (one run in a hundred) made an unterminated
# part's end ambiguous, and the test fail now and then.
DATA = random.Random(1024).randbytes(1023) + b"\xff"


def body(encoded: bytes) -> bytes:
    return (b"--b\r\nContent-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\n\r\n" + encoded
            + b"\r\n--b--\r\n")


def read(encoded: bytes, stream: bool) -> tuple[bytes, set[str]]:
    source = io.BufferedReader(io.BytesIO(body(encoded)), buffer_size=7) if stream else body(encoded)
    [part], devs = read_multipart(source, "b", DEFAULT_MIME_LIMITS)
    return part.blob.read(), {d.code for d in devs}


def wrapped(text: bytes, width: int = 76) -> bytes:
    return b"\r\n".join(text[i:i + width] for i in range(0, len(text), width))


@pytest.mark.parametrize("stream", [False, True])
def test_wrapped_base64_reads_clean(stream):
    assert read(wrapped(base64.b64encode(DATA)), stream) == (DATA, set())
    assert read(base64.b64encode(DATA), stream) == (DATA, set())


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("split", [10, 11, 12, 500])
def test_separately_encoded_runs_are_all_read(split, stream):
    # Each chunk padded on its own, then joined: the text after the first padding is not dropped.
    encoded = base64.b64encode(DATA[:split]) + b"\r\n" + base64.b64encode(DATA[split:])
    data, devs = read(encoded, stream)
    assert data == DATA
    assert devs == ({"base64-padding-inside"} if split % 3 else set())  # (no padding when split is whole groups)


@pytest.mark.parametrize("stream", [False, True])
def test_the_url_safe_alphabet_is_read_and_reported(stream):
    assert read(wrapped(base64.urlsafe_b64encode(DATA)), stream) == (DATA, {"base64-urlsafe"})


@pytest.mark.parametrize("stream", [False, True])
def test_junk_is_ignored_as_mime_says_and_reported(stream):
    encoded = base64.b64encode(DATA)
    data, devs = read(encoded[:100] + b"!!" + encoded[100:], stream)
    assert data == DATA and devs == {"base64-invalid"}
    for junk in (b"!!!!@@@@", b"!!!not base64***"):  # nothing but junk, or junk leaving no whole groups
        with pytest.raises(MimeError, match="undecodable base64"):
            read(junk, stream)


@pytest.mark.parametrize("stream", [False, True])
def test_text_cut_short_or_unpadded_is_reported(stream):
    encoded = base64.b64encode(DATA[:1021])  # ends "xx=" in a group of four
    data, devs = read(encoded.rstrip(b"="), stream)
    assert data == DATA[:1021] and devs == {"base64-unpadded"}
    data, devs = read(encoded[:-3], stream)  # one character of a group left: cannot be a byte
    assert data == DATA[:1020 - 1020 % 3] and devs == {"base64-truncated"}


# The same file holds the other ways a body ends badly.

@pytest.mark.parametrize("stream", [False, True])
def test_a_mistyped_or_missing_closing_delimiter_keeps_every_part(stream):
    def parts_of(raw: bytes):
        source = io.BufferedReader(io.BytesIO(raw), buffer_size=7) if stream else raw
        parts, devs = read_multipart(source, "b1", DEFAULT_MIME_LIMITS)
        return [p.blob.read() for p in parts], {d.code for d in devs}

    two = b"--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b1\r\nContent-Type: image/gif\r\n\r\n" + DATA
    # The spec examples' closing line with an extra underscore: taken for the closing.
    assert parts_of(two + b"\r\n--_b1--\r\n") == ([b"hello", DATA], {"mime-bad-closing"})
    # No closing line at all: the last part runs to the end, less the line break.
    assert parts_of(two + b"\r\n") == ([b"hello", DATA], {"mime-unterminated"})
    assert parts_of(two) == ([b"hello", DATA], {"mime-unterminated"})
    # A part whose content merely looks like a closing line is content.
    assert parts_of(b"--b1\r\nContent-Type: text/plain\r\n\r\n--x--") == ([b"--x--"], {"mime-unterminated"})


def test_a_body_is_read_as_what_it_is_when_its_label_says_otherwise():
    import mm7bind as mm7

    out = mm7.encode(mm7.DeliverReq(sender="+8613900000000", subject="s",
                                    content=mm7.Content(parts=[mm7.Part.text("hi")])), transaction_id="t")
    body, bare = out.to_bytes(), mm7.encode(mm7.DeliverReq(sender="1"), transaction_id="t").to_bytes()
    boundary = out.content_type.split('boundary="', 1)[1].split('"', 1)[0]

    def codes(env):
        return {d.code for d in env.deviations}

    env = mm7.decode(body, "text/xml; charset=utf-8")  # a multipart labelled as bare SOAP
    assert env.body.content.parts[0].text_value == "hi" and "mime-mislabelled" in codes(env)
    env = mm7.decode(bare, 'multipart/related; boundary="b1"; type="text/xml"')  # bare SOAP labelled multipart
    assert env.body.sender.value == "1" and "mime-not-multipart" in codes(env)
    env = mm7.decode(body, out.content_type.replace(boundary, "another-boundary"))  # the wrong boundary
    assert env.body.content.parts[0].text_value == "hi" and "mime-boundary" in codes(env)
    assert mm7.decode(body, out.content_type).deviations == []  # (labelled right: nothing to say)


def test_many_padded_runs_cost_linear_time_and_are_bounded():
    from mm7bind.errors import LimitExceededError
    from mm7bind.mime import MAX_BASE64_RUNS

    data, devs = read(b"AA==" * 5000, stream=False)  # five thousand one-byte runs: all read
    assert data == bytes(5000) and devs == {"base64-padding-inside"}
    with pytest.raises(LimitExceededError, match="padded runs"):
        read(b"AA==" * (MAX_BASE64_RUNS + 1), stream=False)  # (2.5 MB of them took 48 s before the bound)


def test_a_limit_hit_while_spooling_leaves_no_temporary_file(tmp_path, monkeypatch):
    import tempfile

    from mm7bind.errors import DecodeError
    from mm7bind.mime import MimeLimits

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    big = b"--b\r\nContent-Type: image/jpeg\r\n\r\n" + bytes(3_000_000) + b"\r\n--b--\r\n"
    for limits in (MimeLimits(spool_threshold=100_000, max_part_bytes=1_000_000),  # the part's own limit
                   MimeLimits(spool_threshold=100_000, max_body_bytes=2_000_000)):  # the body's
        with pytest.raises(DecodeError):
            read_multipart(io.BufferedReader(io.BytesIO(big), buffer_size=65536), "b", limits)
    assert list(tmp_path.iterdir()) == []


def test_urlsafe_characters_among_junk_are_reported_however_the_text_arrives():
    # Read in pieces, a piece holding - or _ and no junk was reported base64-urlsafe; the same
    # text read at once only base64-invalid: the deviations depended on how the body arrived.
    text = wrapped(base64.urlsafe_b64encode(DATA)).replace(b"\r\n", b"\r\n!", 1)
    assert read(text, False) == (DATA, {"base64-urlsafe", "base64-invalid"})
    [part], devs = read_multipart(Trickle(body(text), 5), "b", DEFAULT_MIME_LIMITS)
    assert (part.blob.read(), {d.code for d in devs}) == (DATA, {"base64-urlsafe", "base64-invalid"})


def test_a_run_of_padding_cut_between_reads_is_one_run():
    # "=" beyond a padded group are skipped; when a read ended among them, those of the next read
    # were taken for another run's padding, and base64-padding-inside reported for the stream alone.
    text = base64.b64encode(DATA[:1022]) + b"=" * 2000  # (1022 bytes: the text ends in "==")
    assert read(text, False) == (DATA[:1022], set())
    for size in (7, 13, 1000):
        [part], devs = read_multipart(Trickle(body(text), size), "b", DEFAULT_MIME_LIMITS)
        assert (part.blob.read(), {d.code for d in devs}) == (DATA[:1022], set())
