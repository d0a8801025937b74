"""Packet captures (pcap, pcapng) read as the HTTP messages in them, and `inspect` and `validate`
of one: how an interoperability problem is usually handed over."""

from __future__ import annotations

import functools
import gzip
import ipaddress
import json
import random
import struct
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mm7bind as mm7
from mm7bind.errors import DecodeError
from mm7bind.pcap import Capture, is_packet_capture, read_capture

from . import pcapgen
from .pcapgen import ACK, FIN, PSH, RST, Flow, Packet, ethernet, http, pcap, pcapng, pcapng_simple
from .test_commands import ENV, ROOT, run

MB = "multipart/related"


@functools.cache
def submit() -> tuple[bytes, bytes]:
    """A SubmitReq as an SP's client sends it, and the MMSC's answer (the same bytes each time)."""
    msg = mm7.SubmitReq(vaspid="800001", vasid="1065888", recipients=["+8613800138000"], subject="你好",
                        content=mm7.Content(parts=[mm7.Part.text("hello"),
                                                   mm7.Part.from_bytes(submit_photo(),
                                                                       "image/jpeg")]))
    out = mm7.encode(msg, transaction_id="cap-1", version="REL-6-MM7-1-4")
    body = out.to_bytes()
    request = http("POST /mm7 HTTP/1.1", {"Host": "mmsc", "Content-Type": out.content_type, "SOAPAction": '""',
                                          "Content-Length": str(len(body))}, body)
    rsp = mm7.encode(mm7.SubmitRsp(message_id="m-1"), transaction_id="cap-1", version="REL-6-MM7-1-4").to_bytes()
    response = http("HTTP/1.1 200 OK", {"Content-Type": "text/xml; charset=utf-8", "Content-Length": str(len(rsp))},
                    rsp)
    return request, response


def submit_photo() -> bytes:
    return b"\xff\xd8\xff\xe0" + bytes(range(256)) * 12


def conversation(flow: Flow | None = None, mss: int = 700) -> Flow:
    request, response = submit()
    flow = (flow or Flow()).open()
    flow.send(True, request, mss)
    flow.send(False, response, mss)
    return flow.close()


def fragmented(packets, **extension_headers):
    """Each packet longer than 300 bytes in fragments of 256 (an IPv6 one with the extension
    headers given, as pcapgen.fragments takes them)."""
    from .pcapgen import fragments

    return [piece for n, packet in enumerate(packets)
            for piece in (fragments(packet, 256, ident=n, **extension_headers) if len(packet.ip) > 300 else [packet])]


def decoded(msg):
    return mm7.decode(msg.body, next(v for k, v in msg.headers.items() if k.lower() == "content-type"))


def test_a_submit_and_its_answer_are_read_from_a_tcpdump_capture():
    request, response = submit()
    capture = read_capture(pcap(conversation().packets))
    assert capture.notes == []
    req, rsp = capture.messages
    assert (req.number, req.connection, req.source, req.destination) == (1, 1, "10.0.0.1:40000", "10.0.0.2:8080")
    assert req.is_request and req.start_line == "POST /mm7 HTTP/1.1" and request.endswith(req.body)
    assert not rsp.is_request and rsp.start_line == "HTTP/1.1 200 OK" and response.endswith(rsp.body)
    assert req.time < rsp.time and req.time.year == 2025
    env = decoded(req)
    assert env.body.ELEMENT == "SubmitReq" and env.body.subject == "你好" and env.transaction_id == "cap-1"
    assert decoded(rsp).body.message_id == "m-1"


@pytest.mark.parametrize("link", ["ethernet", "raw", "sll", "sll2", "null", "loop", "qinq", "sll+vlan", "sll2+vlan",
                                  "snap", "ppp", "ppp+compressed", "ppp_hdlc", "ppp_hdlc+cisco", "c_hdlc"])
@pytest.mark.parametrize("order,nano", [("<", False), (">", True)])
@pytest.mark.parametrize("ipv6", [False, True])
def test_every_link_byte_order_and_time_resolution(link, order, nano, ipv6):
    # (Linux cooked with a VLAN tag: `tcpdump -i any` on a host whose VLAN traffic keeps its tags
    # was read as nothing, and nothing said; so were a serial link's PPP or Cisco HDLC, and 802.3
    # frames with LLC and SNAP headers, each said a link not read)
    flow = conversation(Flow(client=("2001:db8::1", 40000), server=("2001:db8::2", 80)) if ipv6 else None)
    data = pcap(flow.packets, link=link, order=order, nano=nano)
    assert is_packet_capture(data)
    capture = read_capture(data)
    req, rsp = capture.messages
    assert decoded(req).body.ELEMENT == "SubmitReq" and decoded(rsp).body.ELEMENT == "SubmitRsp"
    assert capture.notes == [] and req.source == ("[2001:db8::1]:40000" if ipv6 else "10.0.0.1:40000")
    assert abs(req.time.timestamp() - flow.packets[3].time) < 1e-5


@pytest.mark.parametrize("order", ["<", ">"])
def test_the_modified_pcap_of_patched_libpcaps(order):
    """Magic 0xa1b2cd34 (Alexey Kuznetsov's patched libpcap, old Red Hat and SuSE tcpdumps): each
    record's header is followed by 8 bytes (ifindex, protocol, packet type, pad), which are not
    the packet's."""
    flow = conversation()
    data = pcap(flow.packets, order=order, modified=True)
    assert is_packet_capture(data)
    capture = read_capture(data)
    assert capture.notes == []
    req, rsp = capture.messages
    assert decoded(req).body.ELEMENT == "SubmitReq" and decoded(rsp).body.message_id == "m-1"
    assert abs(req.time.timestamp() - flow.packets[3].time) < 1e-5


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("variant,head", [("ss990915", 28), ("ss990417", 24), ("nokia", 20)])
def test_the_other_patched_libpcaps_told_by_their_first_records(order, variant, head):
    """SuSE 6.3's patched libpcap wrote the modified magic with 28-byte record headers (two CPU
    numbers and 3 pad bytes more), Red Hat 6.1's wrote the modified headers under the usual magic,
    Nokia's the usual magic with 20-byte ones: which it is, the first records tell."""
    from .pcapgen import ethernet

    flow = conversation()
    data = pcap(flow.packets, order=order, variant=variant)
    assert len(data) == 24 + sum(head + len(ethernet(p.ip)) for p in flow.packets)
    capture = read_capture(data)
    assert capture.notes == []
    req, rsp = capture.messages
    assert decoded(req).body.ELEMENT == "SubmitReq" and decoded(rsp).body.message_id == "m-1"
    assert abs(req.time.timestamp() - flow.packets[3].time) < 1e-5


def test_a_capture_of_one_packet_is_read_with_the_usual_record_headers():
    """With one record, every header size makes sense of it: the usual one is taken."""
    flow = Flow().open()
    flow.send(True, http("GET /x HTTP/1.1", {"Host": "m"}, b""))
    data = pcap(flow.packets[-1:])
    [msg] = read_capture(data).messages
    assert msg.start_line == "GET /x HTTP/1.1" and msg.headers == {"Host": "m"}


def test_vlan_tagged_ethernet_and_padding_after_a_short_packet():
    from .pcapgen import ethernet

    flow = conversation()
    frames = [ethernet(p.ip, vlan=42) + b"\x00" * 6 for p in flow.packets]  # (padded as a switch pads short frames)
    data = pcap([]) + b"".join(
        struct.pack("<IIII", int(p.time), 0, len(f), len(f)) + f for p, f in zip(flow.packets, frames))
    req, rsp = read_capture(data).messages
    assert decoded(req).body.ELEMENT == "SubmitReq" and decoded(rsp).body.message_id == "m-1"


def test_pcapng_sections_interfaces_and_their_time_resolutions():
    first = conversation(Flow(client=("192.0.2.7", 50000)))
    second = conversation(Flow(client=("2001:db8::7", 50001), server=("2001:db8::2", 80), time=1764000100.0))
    data = pcapng([[("ethernet", 6, first.packets), ("sll2", 9, second.packets)]], order=">")
    data += pcapng([[("raw", 0x80 | 20, conversation(Flow(time=1764000200.0)).packets)]])  # a second section, LE
    capture = read_capture(data)
    assert capture.notes == []
    assert [m.connection for m in capture.messages] == [1, 1, 2, 2, 3, 3]
    assert capture.messages[2].source == "[2001:db8::7]:50001"
    assert abs(capture.messages[2].time.timestamp() - second.packets[3].time) < 1e-6
    assert all(decoded(m).body.ELEMENT in ("SubmitReq", "SubmitRsp") for m in capture.messages)


@pytest.mark.parametrize("order", ["<", ">"])
def test_pcapng_simple_packets_and_ones_before_any_interface(order):
    """Simple Packet Blocks are on the section's first interface; one before any interface
    description has no link type to be read with: skipped, and said."""
    stray = conversation(Flow(client=("192.0.2.9", 50009))).packets[:2]
    data = pcapng_simple(conversation().packets, order=order, stray=stray)
    capture = read_capture(data)
    assert [decoded(m).body.ELEMENT for m in capture.messages] == ["SubmitReq", "SubmitRsp"]
    assert capture.notes == ["packet 1: a simple packet before any interface description, skipped",
                             "packet 2: a simple packet before any interface description, skipped"]
    assert read_capture(pcapng_simple(conversation().packets, order=order)).notes == []


def test_pcapng_records_that_are_no_packets_are_numbered_as_wireshark_numbers_them():
    """A message's packet is Wireshark's frame number. Wireshark shows a pcapng file's systemd
    journal entries (a capture merged with the host's journal), Sysdig events and custom blocks as
    frames among the packets: they were not counted, every packet after one was numbered too low.
    Name resolution, interface statistics and decryption secrets blocks are no frames."""
    from .pcapgen import _block

    packets = conversation().packets
    plain = pcapng([[("ethernet", 6, packets)]])
    at = 28 + 32  # (past the section header and the interface description)
    frames = (_block("<", 9, b"__REALTIME_TIMESTAMP=1764000000000000\nMESSAGE=mmsc reachable\n")
              + _block("<", 0xBAD, struct.pack("<I", 32473) + b"mine") + _block("<", 0x204, bytes(24)))
    others = (_block("<", 4, bytes(4)) + _block("<", 5, bytes(12))
              + _block("<", 10, struct.pack("<II", 0x544C534B, 0)))
    expected = read_capture(plain).messages
    capture = read_capture(plain[:at] + others + frames + others + plain[at:])
    assert capture.notes == []
    assert [(m.start_line, m.body, m.packet) for m in capture.messages] == [
        (m.start_line, m.body, m.packet + 3) for m in expected]


def test_pcapng_time_offsets_apply_to_their_own_interface_and_section():
    # if_tsoffset: an interface's times counted from a moment other than 1970 (seconds added to
    # each); another interface, or the same one's number in the next section, has its own.
    first = conversation(Flow(client=("192.0.2.7", 50000)))
    second = conversation(Flow(client=("192.0.2.8", 50001), time=1764000100.0))
    third = conversation(Flow(client=("192.0.2.9", 50002), time=1764000200.0))
    data = pcapng([[("ethernet", 6, first.packets, 1700000000), ("raw", 9, second.packets, -86400)]], order=">")
    data += pcapng([[("raw", 6, third.packets)]])
    capture = read_capture(data)
    assert capture.notes == [] and [m.connection for m in capture.messages] == [1, 1, 2, 2, 3, 3]
    for msg, flow in zip(capture.messages[::2], (first, second, third)):
        assert abs(msg.time.timestamp() - flow.packets[3].time) < 1e-5


def test_segments_out_of_order_repeated_and_overlapping_are_put_back_together():
    request, _ = submit()
    flow = Flow().open()
    sent = flow.send(True, request, 300)
    flow.packets = flow.packets[:3] + sent[::-1]  # every segment, last first
    flow.packets.insert(5, sent[2])  # a retransmission
    # A segment re-sent with more data than the first time (overlapping two others).
    base = flow.seq["c"] - len(request)
    flow.add(True, ACK | PSH, request[250:700], seq=base + 250)
    req, = read_capture(pcap(flow.packets)).messages
    assert req.body == request.split(b"\r\n\r\n", 1)[1]


def test_a_lost_segment_is_said_and_the_next_message_on_the_connection_is_still_read():
    request, response = submit()
    flow = Flow().open()
    sent = flow.send(True, request, 500)
    flow.packets.remove(sent[1])  # never captured
    flow.send(False, response, 500)
    flow.send(True, request.replace(b"cap-1", b"cap-2"), 500)
    capture = read_capture(pcap(flow.packets))
    assert any("500 bytes from 10.0.0.1:40000 were not captured" in n for n in capture.notes)
    first, answer, second = capture.messages
    assert "cut short" in first.notes[0]
    assert decoded(second).transaction_id == "cap-2" and decoded(answer).body.message_id == "m-1"


def test_bytes_lost_before_a_fin_are_said_not_read_as_the_end_of_the_stream():
    """The FIN's sequence number says where a side's bytes end: a last segment never captured (a
    body running to the connection's close, shown as if whole), or a last response never captured
    (as if the server had not answered), is said, as a gap between segments is."""
    flow = Flow().open()
    flow.send(True, http("GET /mm7/status HTTP/1.1", {"Host": "mmsc"}))
    sent = flow.send(False, http("HTTP/1.0 200 OK", {"Content-Type": "text/plain"}, b"x" * 1200), 500)
    flow.packets.remove(sent[-1])  # never captured
    capture = read_capture(pcap(flow.close().packets))
    request, answer = capture.messages
    assert answer.body == b"x" * (1000 - len(http("HTTP/1.0 200 OK", {"Content-Type": "text/plain"})))
    lost = len(http("HTTP/1.0 200 OK", {"Content-Type": "text/plain"}, b"x" * 1200)) - 1000
    assert capture.notes == [(f"connection 1 (10.0.0.1:40000 → 10.0.0.2:8080): {lost} bytes from 10.0.0.2:8080 were "
                              "not captured (after byte 1000): the message they were in is shown cut short, or left "
                              "out if its start is missing")]
    # (a keep-alive connection's last answer lost whole; and a side none of whose bytes were captured)
    for lose_first in (False, True):
        flow = Flow().open()
        request, response = submit()
        flow.send(True, request)
        first = flow.send(False, response)
        flow.send(True, request.replace(b"cap-1", b"cap-2"))
        for packet in flow.send(False, response) + (first if lose_first else []):
            flow.packets.remove(packet)
        capture = read_capture(pcap(flow.close().packets))
        assert [m.start_line for m in capture.messages] == [
            "POST /mm7 HTTP/1.1", *["HTTP/1.1 200 OK"] * (not lose_first), "POST /mm7 HTTP/1.1"]
        after = 0 if lose_first else len(response)
        assert capture.notes == [(f"connection 1 (10.0.0.1:40000 → 10.0.0.2:8080): {len(response) * (1 + lose_first)} "
                                  f"bytes from 10.0.0.2:8080 were not captured (after byte {after}): the message they "
                                  "were in is shown cut short, or left out if its start is missing")]
    # (a FIN repeated, and one after every byte was captured: nothing said)
    flow = conversation()
    flow.packets.append(flow.packets[-1])
    assert read_capture(pcap(flow.packets)).notes == []


def test_a_retransmission_with_other_bytes_than_those_captured_first_is_said():
    """A segment repeating bytes captured already is read as a retransmission, its bytes dropped:
    where they differ (a middlebox rewriting, two connections' packets taken as one's) it is said,
    not passed over; a retransmission of the same bytes, whole or overlapping, is not."""
    request, response = submit()
    flow = Flow().open()
    sent = flow.send(True, request, 500)
    flow.send(False, response, 500)
    flow.close()
    # (the third segment again, and 500 bytes from the middle of it into the fourth: the same bytes)
    same = flow.packets + [sent[2], Packet(sent[3].time, flow._ip(True, ACK, 1001 + 1100, request[1100:1600]))]
    # (and a TCP keep-alive as Windows sends it: the last byte's sequence number, a byte of garbage)
    same.append(Packet(sent[-1].time + 30, flow._ip(True, ACK, 1001 + len(request) - 1, b"\x00")))
    capture = read_capture(pcap(same))
    assert capture.notes == [] and [m.body for m in capture.messages] == [m.body for m in read_capture(pcap(
        flow.packets)).messages]
    other = sent[2].ip[:40] + bytes(len(sent[2].ip) - 40)
    for repeat in ([Packet(sent[2].time + 1, other)], [Packet(sent[1].time - 0.0001, other)]):
        capture = read_capture(pcap(sorted(flow.packets + repeat, key=lambda p: p.time)))
        assert capture.notes == [("connection 1 (10.0.0.1:40000 → 10.0.0.2:8080): 1 segment(s) from 10.0.0.1:40000 "
                                  "repeated bytes captured already with other bytes (the first at byte 1000): the "
                                  "bytes captured first are read (a middlebox rewriting a retransmission, or two "
                                  "connections' packets taken as one's)")]
    # (captured first, the other bytes are the ones read: said all the same)
    assert capture.messages[0].body != read_capture(pcap(flow.packets)).messages[0].body



def test_a_repeat_is_compared_with_the_bytes_held_for_its_range_whichever_segment_or_run_they_came_from():
    """Each repeated byte is compared with the first captured copy of it: a third copy the same as
    a second, differing one still differs from those held; one spanning two segments differs in
    the first's part alone; one of bytes before a gap, captured after the bytes past the gap, is
    compared with those before it, not with the latest run's."""
    request, response = submit()
    flow = Flow().open()
    sent = flow.send(True, request, 500)
    flow.send(False, response, 500)
    flow.close()
    packets = [p for p in flow.packets if p is not sent[4]]  # (a gap: the bytes after it another run)
    later = flow.packets[-1].time + 0.5
    other = sent[0].ip[:40] + b"Z" * 10 + sent[0].ip[50:]
    spanning = bytearray(request[700:1200])
    spanning[5] ^= 0xFF  # (in the second segment's bytes; the third's the same)
    for n, repeat in enumerate((other, other, flow._ip(True, ACK, 1001 + 700, bytes(spanning)),
                                flow._ip(True, ACK, 1001 + 1500, request[1500:1800][:-1] + b"?"))):
        packets.append(Packet(later + n / 100, repeat))
    capture = read_capture(pcap(packets))
    assert [n for n in capture.notes if "repeated bytes" in n] == [
        ("connection 1 (10.0.0.1:40000 → 10.0.0.2:8080): 4 segment(s) from 10.0.0.1:40000 repeated bytes captured "
         "already with other bytes (the first at byte 0): the bytes captured first are read (a middlebox rewriting "
         "a retransmission, or two connections' packets taken as one's)")]
    held = read_capture(pcap([p for p in flow.packets if p is not sent[4]]))
    assert [m.body for m in capture.messages] == [m.body for m in held.messages]

def test_chunked_bodies_100_continue_gzip_and_a_response_to_head():
    request, response = submit()
    head, _, body = request.partition(b"\r\n\r\n")
    head = head.replace(b"Content-Length", b"X-Length") + b"\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue"
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(body[i : i + 999]), body[i : i + 999]) for i in range(0, len(body), 999))
    rsp_head, _, rsp_body = response.partition(b"\r\n\r\n")
    zipped = gzip.compress(rsp_body)
    flow = Flow().open()
    flow.send(True, head + b"\r\n\r\n")
    flow.send(False, b"HTTP/1.1 100 Continue\r\n\r\n")
    flow.send(True, chunked + b"0\r\nX-Trailer: 1\r\n\r\n")
    flow.send(False, rsp_head.replace(str(len(rsp_body)).encode(), str(len(zipped)).encode())
              + b"\r\nContent-Encoding: gzip\r\n\r\n" + zipped)
    flow.send(True, b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n")
    flow.send(False, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n")
    flow.send(True, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    flow.send(False, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
    messages = read_capture(pcap(flow.packets)).messages
    assert [m.start_line for m in messages] == ["POST /mm7 HTTP/1.1", "HTTP/1.1 100 Continue", "HTTP/1.1 200 OK",
                                                "HEAD /health HTTP/1.1", "HTTP/1.1 200 OK", "GET /health HTTP/1.1",
                                                "HTTP/1.1 200 OK"]
    assert messages[0].body == body and decoded(messages[0]).body.ELEMENT == "SubmitReq"
    assert messages[2].body == rsp_body and "gzip" in messages[2].notes[0]
    assert messages[4].body == b"" and messages[6].body == b"ok\n"


def test_a_body_in_tiny_chunks_is_joined_in_memory_proportional_to_it():
    """Each chunk's place was kept as a pair of numbers in a list (112 bytes) and its bytes as an
    object of their own: a saved message of 12 MB in chunks of 1 byte took 500 MB to read, in a
    capture as on its own. They are now two numbers in an array, the bytes joined in one buffer."""
    from mm7bind.pcap import http_body

    from .conftest import traced_memory

    data = b"x" * 100_000
    chunked = b"1\r\nx\r\n" * len(data) + b"0\r\n\r\n"
    flow = Flow().open()
    flow.send(True, b"POST /mm7 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked, 65000)
    flow.close()
    captured = pcap(flow.packets)
    with traced_memory() as memory:
        body, notes = http_body({"Transfer-Encoding": "chunked"}, chunked)
    assert body == data and notes == ["its body was sent chunked: shown joined"]
    assert memory.peak < 6 * len(chunked), f"{memory.peak} bytes held at once for a message of {len(chunked)}"
    with traced_memory() as memory:
        (msg,) = read_capture(captured).messages
    assert msg.body == data
    assert memory.peak < 6 * len(captured), f"{memory.peak} bytes held at once for a capture of {len(captured)}"


def test_a_body_in_a_content_encoding_not_undone_is_said():
    # (Brotli, say: only its decoding error was shown, "neither XML nor MIME", with nothing on why)
    flow = Flow().open()
    flow.send(True, http("POST /mm7 HTTP/1.1", {"Content-Type": "text/xml", "Content-Encoding": "br",
                                                "Content-Length": "5"}, b"\x1b\x03\x00\xf8\x05"))
    [msg] = read_capture(pcap(flow.packets)).messages
    assert msg.notes == ["its body was sent with Content-Encoding br, which is not undone: shown as captured"]


def test_gzip_bodies_inflate_within_a_budget_for_the_whole_capture(monkeypatch):
    # Each body stopped at MAX_INFLATED, but every message is held: many bombs just under it, each a
    # few kilobytes in the file, grew to gigabytes. The capture as a whole has a budget too.
    import mm7bind.pcap

    monkeypatch.setattr(mm7bind.pcap, "MAX_INFLATED", 1_000_000)
    monkeypatch.setattr(mm7bind.pcap, "MAX_INFLATED_TOTAL", 2_500_000)
    zipped = gzip.compress(bytes(900_000))
    flow = Flow().open()
    for _ in range(2):
        flow.send(True, b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        flow.send(False, b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(zipped)
                  + zipped)
    assert [len(m.body) for m in read_capture(pcap(flow.packets)).messages if not m.is_request] == [900_000] * 2
    for _ in range(2):
        flow.send(True, b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        flow.send(False, b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(zipped)
                  + zipped)
    # Past the budget, a body is not inflated and its message says why; the capture is read all the same
    # (a bomb ended the reading of the whole capture, the messages before and after it lost)
    flow.send(True, b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
    responses = [m for m in read_capture(pcap(flow.packets)).messages if not m.is_request]
    assert [len(m.body) for m in responses] == [900_000] * 2 + [len(zipped)] * 2
    assert responses[2].body == zipped and responses[2].notes == [
        "its gzip body is not inflated: the capture's gzip and deflate bodies inflate past 2500000 bytes in all "
        "(decompression bombs, or more than is held): shown as captured"]
    assert read_capture(pcap(flow.packets)).messages[-1].start_line == "GET /after HTTP/1.1"


def test_a_decompression_bomb_is_said_in_its_message_and_the_capture_read_on(monkeypatch):
    """A body inflating past MAX_INFLATED raised LimitExceededError out of read_capture: one
    message of a 2 GB capture made every other one unreadable. It is said in its notes, shown as
    captured, and the rest is read."""
    import mm7bind.pcap

    monkeypatch.setattr(mm7bind.pcap, "MAX_INFLATED", 1_000_000)
    bomb = gzip.compress(bytes(5_000_000))
    flow = Flow().open()
    flow.send(True, b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
    flow.send(False, b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(bomb) + bomb)
    conversation(flow)
    messages = read_capture(pcap(flow.close().packets)).messages
    assert [m.start_line for m in messages] == ["GET /x HTTP/1.1", "HTTP/1.1 200 OK", "POST /mm7 HTTP/1.1",
                                                "HTTP/1.1 200 OK"]
    assert messages[1].body == bomb and messages[1].notes == [
        "its gzip body inflates past 1000000 bytes (a decompression bomb, or more than is read): not inflated, "
        "shown as captured"]
    assert messages[3].body == submit()[1].split(b"\r\n\r\n", 1)[1]


def test_a_body_sent_with_a_transfer_encoding_gzip_is_inflated():
    """`Transfer-Encoding: gzip, chunked` (a coding of the transfer, undone by the receiving end):
    the chunks were joined but the body shown compressed, without a word. Each coding is undone in
    turn, the last applied first, a Content-Encoding's after the Transfer-Encoding's, each said."""
    from mm7bind.pcap import http_body

    xml = submit()[1].split(b"\r\n\r\n", 1)[1]
    zipped = gzip.compress(xml)
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(zipped[k : k + 100]), zipped[k : k + 100])
                       for k in range(0, len(zipped), 100)) + b"0\r\n\r\n"
    twice = gzip.compress(zipped)
    for headers, body, notes in [
            ({"Transfer-Encoding": "gzip, chunked"}, chunked,
             ["its body was sent with Transfer-Encoding gzip: shown inflated"]),
            ({"Transfer-Encoding": "gzip,chunked", "Content-Encoding": "gzip"},
             b"%x\r\n%s\r\n0\r\n\r\n" % (len(twice), twice),
             ["its body was sent with Transfer-Encoding gzip: shown inflated", "its body was sent gzip: shown inflated"]),
            ({"Transfer-Encoding": "br, chunked"}, chunked,  # (not undone: said, as a Content-Encoding br is)
             ["its body was sent with Transfer-Encoding br, which is not undone: shown as captured"])]:
        flow = Flow().open()
        flow.send(True, b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        flow.send(False, http("HTTP/1.1 200 OK", {"Content-Type": "text/xml", **headers}, body))
        [_, rsp] = read_capture(pcap(flow.close().packets)).messages
        assert rsp.notes == notes
        assert rsp.body == (zipped if "br" in headers["Transfer-Encoding"] else xml)
        # (a message saved on its own: the same)
        assert http_body(headers, body) == (rsp.body, ["its body was sent chunked: shown joined"] +
                                            [n.replace("captured", "saved") for n in notes])


def test_many_connections_skipped_are_counted_past_a_few_said():
    """A capture of a busy host's every port: a note for each of tens of thousands of TLS
    connections buried what mattered. A few of each kind are said, the rest counted. A TLS
    connection joined mid-way (its first record application data's, not a handshake's) was said to
    be "no HTTP/1.x (HTTP/2 or another protocol)"."""
    packets = []
    for n in range(8):
        flow = Flow(client=("10.0.0.1", 41000 + n), server=("10.0.0.2", 443), time=1764000000.0 + n)
        flow.send(True, b"\x17\x03\x03\x00\x40" + bytes(64))  # (joined mid-connection: no SYN, no handshake)
        packets += flow.packets
    other = Flow(client=("10.0.0.1", 42000), time=1764000010.0).open()
    other.send(True, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes(100))
    packets += other.packets + conversation(Flow(time=1764000020.0)).packets
    capture = read_capture(pcap(packets))
    assert len(capture.messages) == 2
    tls = [n for n in capture.notes if n.endswith("or with the keys)")]
    assert [n.split(":")[0] for n in tls] == [f"connection {n} (10.0.0.1" for n in range(1, 6)]
    assert capture.notes == tls + [
        "connection 9 (10.0.0.1:42000 → 10.0.0.2:8080): no HTTP/1.x in it (HTTP/2 or another protocol), skipped",
        "3 more connection(s): TLS, skipped (its HTTP can be read only in a capture on the plain side of the TLS: "
        "behind the proxy ending it, or with the keys) as well (the last: connection 8)"]


def test_a_capture_begun_mid_connection_and_a_port_used_again():
    request, response = submit()
    late = Flow()
    late.send(False, response[-200:])  # the end of an answer whose start was not captured
    late.send(True, request)
    late.send(False, response)
    late.add(True, RST)
    again = Flow(time=late.time + 1)  # the same ports, a new connection
    conversation(again)
    capture = read_capture(pcap(late.packets + again.packets))
    numbers = [(m.connection, m.is_request) for m in capture.messages]
    assert numbers == [(1, True), (1, False), (2, True), (2, False)]
    assert capture.messages[0].source == "10.0.0.1:40000"  # the side sending requests is the client
    assert any("200 bytes from 10.0.0.2:8080 before the next message" in n for n in capture.notes)
    assert decoded(capture.messages[1]).body.message_id == "m-1"


def test_what_is_no_http_is_said_and_skipped():
    flow = Flow(server=("10.0.0.2", 443)).open()
    flow.send(True, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(500))
    flow.send(False, b"\x16\x03\x03\x00\x7a\x02\x00\x00\x76" + bytes(100))
    capture = read_capture(pcap(flow.packets + conversation(Flow(time=flow.time + 1,
                                                                 client=("10.0.0.1", 40001))).packets))
    assert len(capture.messages) == 2
    assert capture.notes == [("connection 1 (10.0.0.1:40000 → 10.0.0.2:443): TLS, skipped (its HTTP can be read "
                              "only in a capture on the plain side of the TLS: behind the proxy ending it, or with "
                              "the keys)")]
    other = Flow().open()
    other.send(True, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes(100))
    assert read_capture(pcap(other.packets)).notes == [
        "connection 1 (10.0.0.1:40000 → 10.0.0.2:8080): no HTTP/1.x in it (HTTP/2 or another protocol), skipped"]


def test_packets_on_a_link_that_is_not_read_are_said(tmp_path):
    # A capture of 802.11 frames (radiotap, 127) or of another link read as no message and no
    # note: `validate` said only that no message held MM7, with nothing on why.
    data = bytearray(pcap(conversation().packets))
    struct.pack_into("<I", data, 20, 127)
    note = ("14 packet(s) of link type 127, which is not read (Ethernet, Linux cooked, PPP, Cisco HDLC, raw IP and "
            "BSD loopback are: capture on such an interface), skipped (the first: packet 1)")
    assert read_capture(bytes(data)).messages == [] and read_capture(bytes(data)).notes == [note]
    path = tmp_path / "wifi.pcap"
    path.write_bytes(bytes(data))
    proc = run("validate", "--json", str(path))
    assert "link type 127, which is not read" in proc.stdout, proc.stdout + proc.stderr


TUNNELS = {
    "vxlan": pcapgen.vxlan, "vxlan-linux-port": functools.partial(pcapgen.vxlan, port=8472),
    "vxlan-over-ipv6": functools.partial(pcapgen.vxlan, version=6),
    "geneve": pcapgen.geneve, "geneve-options": functools.partial(pcapgen.geneve, options=bytes(4) + b"\x01" * 8),
    "geneve-ip": functools.partial(pcapgen.geneve, bridged=False),
    "gre": pcapgen.gre, "gre-checksum-key-sequence": functools.partial(pcapgen.gre, checksum=True, key=5, sequence=1),
    "gre-key": functools.partial(pcapgen.gre, key=77), "gretap": functools.partial(pcapgen.gre, bridged=True),
    "gre-over-ipv6": functools.partial(pcapgen.gre, version=6),
    "erspan-1": functools.partial(pcapgen.erspan, kind=1), "erspan-2": pcapgen.erspan,
    "erspan-3": functools.partial(pcapgen.erspan, kind=3),
    "ip-in-ip": pcapgen.ip_in_ip, "ip-in-ipv6": functools.partial(pcapgen.ip_in_ip, version=6),
    "vxlan-in-gre": lambda ip: pcapgen.gre(pcapgen.vxlan(ip), key=1),
    "geneve-in-ip-in-ip": lambda ip: pcapgen.ip_in_ip(pcapgen.geneve(ip)),
    # (a PPTP VPN's, unencrypted; its PPP frames' fields compressed or not, an acknowledgment in them or not)
    "pptp": pcapgen.pptp, "pptp-compressed-ppp": functools.partial(pcapgen.pptp, ack=5, compressed=True),
    "pptp-acknowledging": functools.partial(pcapgen.pptp, sequence=None, ack=9),
    "gre-mpls": lambda ip: pcapgen.outer_ip(struct.pack("!HH", 0, 0x8847) + pcapgen.labels(ip), 47),
    "geneve-mpls": lambda ip: pcapgen.outer_ip(pcapgen.udp(6081, struct.pack("!BBHI", 0, 0, 0x8847, 7 << 8)
                                                           + pcapgen.labels(ip, (3000,))), 17),
}


def same_messages(got, expected) -> None:
    """The messages of a capture read as those of another (the same traffic captured otherwise)."""
    assert [(m.number, m.connection, m.source, m.destination, m.time, m.start_line, m.headers, m.body, m.notes,
             m.packet) for m in got] == [
        (m.number, m.connection, m.source, m.destination, m.time, m.start_line, m.headers, m.body, m.notes,
         m.packet) for m in expected]


@pytest.mark.parametrize("ipv6", [False, True], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("tunnel", list(TUNNELS))
def test_mm7_traffic_inside_tunnels_is_read_as_without_them(tunnel, ipv6):
    """A capture on an overlay network's outer interface (a Kubernetes node's: VXLAN, Geneve), a VPN
    gateway's (GRE, IP in IP) or a switch's mirror session (ERSPAN) has its HTTP inside tunnels: it
    was read as no message at all. Each packet is unwrapped, its connection known by the inner
    addresses: the messages are those the same traffic captured inside the tunnel has."""
    flow = Flow(("2001:db8::1", 40000), ("2001:db8::2", 8080)) if ipv6 else Flow()
    plain = conversation(flow, mss=1200).packets
    expected = read_capture(pcap(plain))
    assert len(expected.messages) == 2 and expected.notes == []
    capture = read_capture(pcap(pcapgen.tunnelled(plain, TUNNELS[tunnel]), link="raw"))
    same_messages(capture.messages, expected.messages)
    assert decoded(capture.messages[0]).body.ELEMENT == "SubmitReq" and decoded(capture.messages[1]).body.message_id == "m-1"
    outermost = {"vxlan": "VXLAN", "geneve": "Geneve", "gre": "GRE", "gretap": "GRE", "erspan": "ERSPAN",
                 "ip": "IPv6 in IP" if ipv6 else "IPv4 in IP", "pptp": "PPTP"}[tunnel.split("-")[0]]
    outermost = {"vxlan-in-gre": "GRE", "geneve-in-ip-in-ip": "IPv4 in IP"}.get(tunnel, outermost)
    assert capture.notes[0] == (f"{len(plain)} packet(s) unwrapped from {outermost} tunnels, read as if captured "
                                "inside them (the first: packet 1)")
    assert all("unwrapped from" in note for note in capture.notes)


@pytest.mark.parametrize("ipv6", [False, True], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("link", ["mpls", "mpls+pseudowire", "pppoe", "vlan+mpls", "sll+mpls", "sll2+mpls", "pbb",
                                  "macsec", "macsec-no-sci"])
def test_mpls_labels_and_pppoe_sessions_on_the_link_are_read_past(link, ipv6):
    """A capture on a provider's core link (MPLS: IP under its labels, or an Ethernet pseudowire's
    frames; 802.1ah's MAC in MAC), on a broadband access concentrator's (PPPoE) or on a link
    under MACsec integrity alone was read as no message, and nothing said: the packets under them
    are read as those captured without them."""
    flow = Flow(("2001:db8::1", 40000), ("2001:db8::2", 8080)) if ipv6 else Flow()
    plain = conversation(flow, mss=1200).packets
    expected = read_capture(pcap(plain))
    if link in ("vlan+mpls", "sll+mpls", "sll2+mpls"):
        labelled = pcapgen.labels
        header = {"vlan+mpls": (1, b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x81\x00\x00\x2a\x88\x47"),
                  "sll+mpls": (113, struct.pack("!HHH", 0, 1, 6) + bytes(8) + b"\x88\x47"),
                  "sll2+mpls": (276, b"\x88\x47\x00\x00" + struct.pack("!IHBB", 1, 1, 0, 6) + bytes(8))}[link]
        data = pcap([Packet(p.time, header[1] + labelled(p.ip)) for p in plain], link="raw")
        data = data[:20] + struct.pack("<I", header[0]) + data[24:]
    else:
        data = pcap(plain, link=link)
    capture = read_capture(data)
    same_messages(capture.messages, expected.messages)
    kind = {"pppoe": "PPPoE", "pbb": "802.1ah", "macsec": "MACsec"}.get(link.split("-")[0], "MPLS")
    assert capture.notes == [(f"{len(plain)} packet(s) unwrapped from {kind} tunnels, read as if captured inside them "
                              "(the first: packet 1)")]



def test_vlan_tags_inside_an_mpls_pseudowire_are_read_past_and_keep_its_vlans_apart():
    """An Ethernet pseudowire's frame (its control word) tagged, 802.1Q or QinQ, is read as an
    untagged one is; two customers' VLANs carried in it with the same addresses and ports are two
    connections, as on a trunk (see _vlan), on a core link and in a GRE tunnel alike."""
    def wire(ip: bytes, tag: bytes) -> bytes:
        kind = b"\x08\x00" if ip[0] >> 4 == 4 else b"\x86\xdd"
        return pcapgen.labels(b"\x00\x00\x00\x07" + bytes(12) + tag + kind + ip)

    plain = conversation().packets
    expected = read_capture(pcap(plain)).messages
    core = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x88\x47"
    for tag in (b"\x81\x00\x00\x0a", b"\x88\xa8\x00\x05\x81\x00\x00\x2a"):
        tagged = pcap([Packet(p.time, core + wire(p.ip, tag)) for p in plain], link="raw")
        same_messages(read_capture(_relinked(tagged, 1)).messages, expected)
    for link, outer in ((1, lambda frame: core + frame),
                        (101, lambda frame: pcapgen.outer_ip(b"\x00\x00\x88\x47" + frame, 47))):
        other = conversation(Flow(seq={"c": 5000, "s": 700000})).packets  # (another customer's, the same ends)
        two = [Packet(p.time + n * 0.0001, outer(wire(p.ip, struct.pack("!HH", 0x8100, vlan))))
               for pair in zip(plain, other) for n, (p, vlan) in enumerate(zip(pair, (10, 20)))]
        capture = read_capture(_relinked(pcap(two, link="raw"), link))
        assert len(capture.messages) == 2 * len(expected), capture.notes
        assert not [n for n in capture.notes if "repeated bytes" in n or "captured twice" in n]


def _relinked(data: bytes, link: int) -> bytes:
    """A pcap file of raw frames said to be of another link type."""
    return data[:20] + struct.pack("<I", link) + data[24:]

def test_what_mpls_or_pppoe_carries_that_is_not_read_is_said():
    """An MPLS payload that is no IP and no pseudowire's Ethernet frame, a label stack cut short, a
    PPPoE session's PPP frame compressed: said, not passed over in silence. A PPP link's own
    control packets, an MPLS associated channel's (OAM), are no traffic: nothing said."""
    ip = conversation().packets[3].ip
    head = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01"
    said = {
        "MPLS packet(s) with an MPLS payload other than IP": head + b"\x88\x47" + pcapgen.labels(b"\x80" + bytes(40)),
        "MPLS packet(s) with its MPLS label stack cut short": head + b"\x88\x47" + b"\x00\x01\x00\x40",
        "PPPoE packet(s) with its PPP frame cut short": head + b"\x88\x64" + struct.pack("!BBHH", 0x11, 0, 1, 900) + ip,
        "PPPoE packet(s) with a PPP payload compressed or encrypted": head + b"\x88\x64"
                                                                      + struct.pack("!BBHH", 0x11, 0, 1, 3) + b"\x00\xfd\x00",
        "MACsec packet(s) with its data encrypted (802.1AE), which cannot be read": head + b"\x88\xe5\x2c\x00"
                                                                                    + bytes(12) + ip + bytes(16),
        "802.1ah packet(s) with 802.1ah inside an MPLS pseudowire, 802.1ah or MACsec": head + b"\x88\xe7" + bytes(4)
                                                                                        + head + b"\x88\xe7" + bytes(4)
                                                                                        + head + b"\x08\x00" + ip,
    }
    for note, frame in said.items():
        capture = read_capture(pcap([Packet(1764000000.0, frame)], link="raw")[:20] + struct.pack("<I", 1)
                               + pcap([Packet(1764000000.0, frame)], link="raw")[24:])
        assert capture.messages == []
        assert len(capture.notes) == 1 and capture.notes[0].startswith(f"1 {note}"), (note, capture.notes)
    quiet = [head + b"\x88\x47" + pcapgen.labels(b"\x10\x00\x00\x07" + bytes(20)),
             head + b"\x88\x64" + struct.pack("!BBHH", 0x11, 0, 1, 6) + b"\xc0\x21" + bytes(4)]
    for frame in quiet:
        assert read_capture(pcap([Packet(1764000000.0, frame)], link="raw")[:20] + struct.pack("<I", 1)
                            + pcap([Packet(1764000000.0, frame)], link="raw")[24:]) == Capture([], [])


@pytest.mark.parametrize("tunnel", ["vxlan", "geneve"])
def test_connections_with_the_same_addresses_and_ports_in_two_overlay_networks_are_kept_apart(tunnel):
    """Two tenants' overlay networks may use the same addresses, and a connection in each the same
    addresses and ports at the same time: their packets, told apart by their VXLAN or Geneve
    network identifier, were read as one connection's (a stream of bytes that were no HTTP, and
    gaps of megabytes). Each is read on its own, its fragments too."""
    wrap = {"vxlan": lambda vni: functools.partial(pcapgen.vxlan, vni=vni),
            "geneve": lambda vni: lambda ip: pcapgen.outer_ip(pcapgen.udp(
                6081, struct.pack("!BBHI", 0, 0, 0x0800, vni << 8) + ip), 17)}[tunnel]
    first = fragmented(conversation(mss=1200).packets)
    second = fragmented(conversation(Flow(seq={"c": 5000, "s": 70000}, time=1764000000.0003), mss=1200).packets)
    both = sorted(pcapgen.tunnelled(first, wrap(1)) + pcapgen.tunnelled(second, wrap(2)), key=lambda p: p.time)
    capture = read_capture(pcap(both, link="raw"))
    assert [(m.connection, m.start_line) for m in capture.messages] == [
        (1, "POST /mm7 HTTP/1.1"), (2, "POST /mm7 HTTP/1.1"), (1, "HTTP/1.1 200 OK"), (2, "HTTP/1.1 200 OK")]
    assert [m.body for m in capture.messages] == [m.body for m in read_capture(pcap(first)).messages for _ in (1, 2)]
    kind = "VXLAN" if tunnel == "vxlan" else "Geneve"
    assert capture.notes == [(f"{len(both)} packet(s) unwrapped from {kind} tunnels, read as if captured inside them "
                              "(the first: packet 1)")]


def test_a_tunnels_outer_packets_fragmented_on_the_way_are_put_together_first():
    """Tunnels' packets a router fragmented (the tunnel's overhead past the path's MTU) are put back
    together before their inner packet is read, as the tunnel's end does; UDP's that are no
    tunnel's are let go, nothing said."""
    plain = conversation(mss=1200).packets
    expected = [(m.source, m.destination, m.start_line, m.headers, m.body, m.notes)
                for m in read_capture(pcap(plain)).messages]
    for wrap in (functools.partial(pcapgen.gre, key=3), pcapgen.vxlan, pcapgen.geneve, pcapgen.ip_in_ip,
                 functools.partial(pcapgen.vxlan, version=6), functools.partial(pcapgen.gre, version=6)):
        outer = pcapgen.tunnelled(plain, wrap)
        pieces = [piece for n, packet in enumerate(outer)  # (each packet's last fragment first)
                  for piece in reversed(pcapgen.fragments(packet, 512, ident=n))]
        capture = read_capture(pcap(pieces, link="raw"))
        assert [(m.source, m.destination, m.start_line, m.headers, m.body, m.notes) for m in capture.messages] \
            == expected
        assert len(capture.notes) == 1 and "unwrapped from" in capture.notes[0], capture.notes
    # (an IP in IP packet fragmented, and fragments inside, with the same addresses and identification:
    # each put together on its own, the outer one's not taken for the inner one's captured again)
    same = [piece for n, packet in enumerate(plain)
            for i, inner in enumerate(pcapgen.fragments(packet, 512, ident=10 * n))
            for piece in pcapgen.fragments(Packet(inner.time, pcapgen.ipv4_packet(4, inner.ip, *_ends(inner.ip))),
                                           256, ident=10 * n + i)]
    capture = read_capture(pcap(same, link="raw"))
    assert [(m.source, m.destination, m.start_line, m.headers, m.body, m.notes) for m in capture.messages] == expected
    # (inner packets fragmented before they went into the tunnel: put together by the inner addresses)
    capture = read_capture(pcap(pcapgen.tunnelled(fragmented(plain), pcapgen.vxlan), link="raw"))
    assert [(m.source, m.destination, m.start_line, m.headers, m.body, m.notes) for m in capture.messages] == expected
    other = [Packet(p.time, pcapgen.ipv4_packet(17, pcapgen.udp(2049, p.ip))) for p in plain]  # (NFS, say)
    assert read_capture(pcap(fragmented(other), link="raw")) == Capture([], [])


def _ends(ip: bytes) -> tuple[str, str]:
    """An IPv4 packet's source and destination."""
    return str(ipaddress.ip_address(ip[12:16])), str(ipaddress.ip_address(ip[16:20]))


def test_a_connection_captured_inside_and_outside_its_tunnel_is_read_once():
    """`tcpdump -i any` on a Kubernetes node sees each packet on the pod's interface and again in
    VXLAN on the node's: the same connection (the inner addresses), read once."""
    plain = conversation(mss=1200).packets
    expected = read_capture(pcap(plain)).messages
    both = []
    for packet, wrapped in zip(plain, pcapgen.tunnelled(plain, pcapgen.vxlan)):
        both += [packet, Packet(packet.time + 0.00001, wrapped.ip)]
    capture = read_capture(pcap(both, link="raw"))
    assert [(m.start_line, m.body) for m in capture.messages] == [(m.start_line, m.body) for m in expected]
    assert "connection 2 (10.0.0.1:40000 → 10.0.0.2:8080 in VXLAN network 42): the same bytes and sequence numbers " \
           "both ways as connection 1 (10.0.0.1:40000 → 10.0.0.2:8080), moments apart: one connection captured " \
           "twice, inside and outside its overlay network's tunnel" in " ".join(capture.notes)


def test_a_keep_alive_connection_idle_long_captured_inside_and_outside_its_tunnel_is_read_once():
    """Only a connection read whole was checked for a twin: one idle past IDLE between its
    exchanges (a kept-alive MM7 connection, read on when it sends again) was shown twice, every
    message of it, and the copy's stall in the middle of a message (kept back, read whole once its
    rest came) made its later messages unreadable. Each part read is checked."""
    request, response = submit()
    keep = Flow().open()
    keep.send(True, request, 1200)
    keep.send(False, response, 1200)
    keep.time += 2000  # (past IDLE)
    keep.send(True, request[:500], 1200)  # (stalled in the middle of its message: kept back)
    keep.time += 2000
    keep.send(True, request[500:], 1200)
    keep.send(False, response, 1200)
    plain = keep.close().packets
    expected = [(m.start_line, m.body) for m in read_capture(pcap(plain)).messages]
    assert len(expected) == 4
    both = []
    for packet, wrapped in zip(plain, pcapgen.tunnelled(plain, pcapgen.vxlan)):
        both += [packet, Packet(packet.time + 0.00001, wrapped.ip)]
    # (other connections meanwhile, as a busy capture has them: the capture's time goes on past IDLE)
    others = [p for n in range(4) for p in Flow(client=("10.0.0.9", 50000 + n), time=plain[0].time + 1000 * (n + 1),
                                               packets=[]).open().close().packets]
    for first_inside in (False, True):
        ordered = both if not first_inside else [p for k in range(0, len(both), 2) for p in both[k : k + 2][::-1]]
        capture = read_capture(pcap(sorted(ordered + others, key=lambda p: p.time), link="raw"))
        assert [(m.start_line, m.body) for m in capture.messages] == expected, capture.notes
        twice = [n for n in capture.notes if "captured twice, inside and outside" in n]
        assert len(twice) == 1, capture.notes


def test_connections_with_the_same_ends_on_two_vlans_or_nvgre_networks_are_read_apart():
    """Two tenants' (or sites') connections with the same addresses and ports, each on its own
    VLAN of one trunk or in its own NVGRE virtual subnet, were taken for one: their packets made
    one broken stream. The VLAN, as a VXLAN network, is part of a connection's key: a trunk's
    frames mirrored by ERSPAN too (their tags in the frame, or a type II header's where the tag
    was taken off into it), and so is a plain GRE tunnel's key (a VRF's or a tenant's tunnel of
    several between two routers)."""
    request, response = submit()
    first = conversation(Flow(seq={"c": 1000, "s": 900000}))
    second = conversation(Flow(seq={"c": 5_000_000, "s": 70_000_000}, time=first.packets[0].time + 0.0005))
    expected = [(m.start_line, m.body) for m in read_capture(pcap(first.packets)).messages]

    def interleaved(wrap_first, wrap_second) -> bytes:  # (both connections' packets, in the order of their times)
        return pcap(sorted(pcapgen.tunnelled(first.packets, wrap_first) + pcapgen.tunnelled(second.packets, wrap_second),
                           key=lambda p: p.time), link="raw")

    for data, networks in [
            (pcapng([[("vlan10", 6, first.packets), ("vlan20", 6, second.packets)]]), ("VLAN 10", "VLAN 20")),
            (interleaved(lambda ip: pcapgen.gre(ip, key=7 << 8, bridged=True),
                         lambda ip: pcapgen.gre(ip, key=8 << 8, bridged=True)), ("NVGRE network 7", "NVGRE network 8")),
            *[(interleaved(functools.partial(pcapgen.erspan, kind=kind, vlan=10),
                           functools.partial(pcapgen.erspan, kind=kind, vlan=20)), ("VLAN 10", "VLAN 20"))
              for kind in (1, 2, 3)],
            (interleaved(lambda ip: pcapgen.erspan(ip, header_vlan=10, encapsulation=2),
                         lambda ip: pcapgen.erspan(ip, header_vlan=20, encapsulation=2)), ("VLAN 10", "VLAN 20")),
            (interleaved(lambda ip: pcapgen.gre(ip, key=7), lambda ip: pcapgen.gre(ip, key=8)),
             ("GRE key 7", "GRE key 8")),
            # (a tunnel's Ethernet frame tagged, and a type III ERSPAN header's VLAN, its frame's tag taken off)
            *[(interleaved(functools.partial(wrap, vlan=10), functools.partial(wrap, vlan=20)), ("VLAN 10", "VLAN 20"))
              for wrap in (pcapgen.vxlan, pcapgen.geneve, functools.partial(pcapgen.gre, key=7 << 8, bridged=True),
                           functools.partial(pcapgen.gre, bridged=True))],
            (interleaved(lambda ip: pcapgen.erspan(ip, kind=3, header_vlan=10),
                         lambda ip: pcapgen.erspan(ip, kind=3, header_vlan=20)), ("VLAN 10", "VLAN 20"))]:
        capture = read_capture(data)
        assert [(m.connection, m.start_line, m.body) for m in capture.messages] == [
            (c, line, body) for (line, body) in expected for c in (1, 2)], capture.notes
        assert [n for n in capture.notes if "connection" in n] == [], capture.notes
        assert all(m.notes == [] for m in capture.messages)


def test_a_connection_captured_on_two_vlans_or_tagged_and_not_is_read_once():
    """A packet routed between two VLANs of one trunk (a router on a stick, its trunk mirrored),
    or captured on a VLAN's interface and again tagged on its parent's (`tcpdump -i any`): the
    same connection twice, read once, said."""
    plain = conversation().packets
    expected = [(m.start_line, m.body) for m in read_capture(pcap(plain)).messages]
    again = [Packet(p.time + 0.0001, p.ip) for p in plain]
    for one, other, where in [("vlan10", "vlan20", "in VLAN 20"), ("sll+vlan10", "sll", "")]:
        capture = read_capture(pcapng([[(one, 6, plain), (other, 6, again)]]))
        assert [(m.start_line, m.body) for m in capture.messages] == expected, capture.notes
        name = f"connection 2 (10.0.0.1:40000 → 10.0.0.2:8080{' ' + where if where else ''})"
        assert [n.split(": ")[0] for n in capture.notes] == [name], capture.notes
        assert "captured twice, on two VLANs or tagged and not" in capture.notes[0]


def test_tunnel_headers_that_cannot_be_read_are_said_never_raise():
    """Each layer's length is checked: a tunnel's header cut short, of another version or carrying
    what is not read is a note, and the packet skipped; other UDP (DNS) is no tunnel's."""
    from mm7bind.pcap import MAX_LABELS

    ip = conversation().packets[3].ip
    v4, v6 = pcapgen.ipv4_packet, pcapgen.ipv6_packet
    broken = {
        "VXLAN packet(s) with its header cut short": v4(17, pcapgen.udp(4789, b"\x08\x00\x00")),
        "VXLAN packet(s) with its header without the flag": v4(17, pcapgen.udp(4789, bytes(8) + ethernet(ip))),
        "VXLAN packet(s) with a UDP length of 4 bytes": v4(17, struct.pack("!HHHH", 1, 4789, 4, 0) + bytes(30)),
        "VXLAN packet(s) with its Ethernet frame cut short": v4(17, pcapgen.udp(4789, b"\x08" + bytes(7) + bytes(10))),
        "Geneve packet(s) with its options reaching past": v6(17, pcapgen.udp(6081, b"\x3f\x00\x65\x58" + bytes(12))),
        "Geneve packet(s) with a Geneve version other than 0": v4(17, pcapgen.udp(6081, b"\x40" + bytes(7) + ip)),
        "Geneve packet(s) with a payload other than IP": v4(17, pcapgen.udp(6081, b"\x00\x00\x89\x4f" + bytes(4) + ip)),
        "GRE packet(s) with its header cut short": v4(47, b"\xb0\x00\x08\x00\x00\x00"),
        "GRE packet(s) with a GRE version other than 0 and 1": v4(47, b"\x30\x02\x88\x0b" + bytes(8) + ip),
        "PPTP packet(s) with a GRE version 1 header without": v4(47, b"\x10\x01\x88\x0b" + bytes(4) + ip),
        "PPTP packet(s) with its PPP frame cut short": v4(47, b"\x20\x01\x88\x0b\x00\x40\x00\x01" + b"\xff\x03"),
        "PPTP packet(s) with a PPP payload compressed or encrypted (MPPE)": v4(47, b"\x30\x01\x88\x0b\x00\x10\x00\x01"
                                                                              + bytes(4) + b"\xfd" + bytes(15)),
        "PPTP packet(s) with a PPP payload of protocol 0x002b, not IP": v4(47, b"\x20\x01\x88\x0b\x00\x04\x00\x01"
                                                                          + b"\x00\x2b\x00\x00"),
        "GRE packet(s) with its MPLS label stack cut short": v4(47, b"\x00\x00\x88\x47" + bytes(6)),
        f"GRE packet(s) with more than {MAX_LABELS} MPLS labels": v4(47, b"\x00\x00\x88\x47" + bytes(4 * 20) + ip),
        "GRE packet(s) with an MPLS payload other than IP or an Ethernet pseudowire": v4(47, b"\x00\x00\x88\x47"
                                                                                         + b"\x00\x01\x01\x40"
                                                                                         + b"\x80" + bytes(40)),
        "GRE packet(s) with MPLS inside an MPLS pseudowire, 802.1ah or MACsec, not read": v4(47, b"\x00\x00\x88\x47" + b"\x00\x01\x01\x40" + bytes(4)
                                                            + pcapgen.mpls_ethernet(ip)),
        "GRE packet(s) with RFC 1701's source routing": v4(47, b"\x40\x00\x08\x00" + bytes(4) + ip),
        "ERSPAN packet(s) with its type II header cut short": v4(47, b"\x10\x00\x88\xbe" + bytes(4) + b"\x10"),
        "ERSPAN packet(s) with its type III header cut short": v4(47, b"\x10\x00\x22\xeb" + bytes(4) + b"\x20" + bytes(10)
                                                                 + b"\x01" + bytes(3)),
        "ERSPAN packet(s) with a mirrored frame other than Ethernet": v4(47, b"\x10\x00\x22\xeb" + bytes(4) + b"\x20"
                                                                        + bytes(9) + b"\x08\x00" + ethernet(ip)),
        "IPv4 in IP packet(s) holding no IP packet whole": v4(4, ip[:19]),
        "IPv6 in IP packet(s) holding no IP packet whole": v6(41, b"\x60" + bytes(20)),
        "GRE packet(s) holding no IP packet whole": v4(47, b"\x00\x00\x08\x00" + b"\x45" + bytes(10)),
    }
    for note, packet in broken.items():
        capture = read_capture(pcap([Packet(1764000000.0, packet)], link="raw"))
        assert capture.messages == []
        assert len(capture.notes) == 1 and capture.notes[0].startswith(f"1 {note}"), (note, capture.notes)
    # (a packet cut by the snapshot length inside a tunnel's header: said as cut, not as broken)
    for snaplen in (20 + 8 + 4, 20 + 8 + 8 + 10, 20 + 8 + 8 + 14 + 12):
        capture = read_capture(pcap([Packet(1764000000.0, pcapgen.vxlan(ip))], link="raw", snaplen=snaplen))
        assert [n.split(" (")[0] for n in capture.notes] == ["1 packet(s) cut short by the capture's snapshot length"]
    # (other UDP, DNS say, is no tunnel: nothing said of it; nor is an ARP bridged in a tunnel, nor
    # a Geneve control packet)
    arp = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x06" + bytes(28)
    for quiet in (v4(17, pcapgen.udp(53, bytes(12))), v4(17, pcapgen.udp(4789, b"\x08" + bytes(7) + arp)),
                  v4(17, pcapgen.udp(6081, b"\x00\x80\x65\x58" + bytes(4) + arp))):
        assert read_capture(pcap([Packet(1764000000.0, quiet)], link="raw")).messages == []
    assert read_capture(pcap([Packet(1764000000.0, v4(17, pcapgen.udp(53, bytes(12))))], link="raw")).notes == []


def test_tunnels_nested_past_a_depth_are_said_not_followed():
    """A hostile capture's packet of thousands of IP in IP layers is not followed down (no
    recursion past Python's limit): tunnels in tunnels are read MAX_TUNNEL_DEPTH deep."""
    from mm7bind.pcap import MAX_TUNNEL_DEPTH

    plain = conversation(mss=1200).packets

    def deep(depth: int):
        return lambda ip: functools.reduce(lambda inner, _: pcapgen.ip_in_ip(inner), range(depth), ip)

    capture = read_capture(pcap(pcapgen.tunnelled(plain, deep(MAX_TUNNEL_DEPTH)), link="raw"))
    same_messages(capture.messages, read_capture(pcap(plain)).messages)
    capture = read_capture(pcap(pcapgen.tunnelled(plain, deep(MAX_TUNNEL_DEPTH + 1)), link="raw"))
    assert capture.messages == []
    assert f"{len(plain)} packet(s) in tunnels nested more than {MAX_TUNNEL_DEPTH} deep, skipped (the first: packet 1)" \
        in capture.notes
    hostile = deep(3000)(plain[0].ip)
    capture = read_capture(pcap([Packet(1764000000.0, hostile)], link="raw"))
    assert capture.notes == [
        "1 packet(s) unwrapped from IPv4 in IP tunnels, read as if captured inside them (the first: packet 1)",
        f"1 packet(s) in tunnels nested more than {MAX_TUNNEL_DEPTH} deep, skipped (the first: packet 1)"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([(17, 4789), (17, 8472), (17, 6081), (47, 0), (4, 0), (41, 0)]), st.binary(max_size=120))
def test_any_bytes_in_a_tunnel_are_read_or_said_never_raise(tunnel, data):
    protocol, port = tunnel
    payload = pcapgen.udp(port, data) if port else data
    for outer in (pcapgen.ipv4_packet(protocol, payload), pcapgen.ipv6_packet(protocol, payload)):
        read_capture(pcap([Packet(1764000000.0, outer)], link="raw"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([b"\x88\x47", b"\x88\x48", b"\x88\x64", b"\x81\x00\x00\x01\x88\x47", b"\x88\xe7",
                        b"\x88\xe5"]), st.binary(max_size=120))
def test_any_bytes_under_mpls_labels_or_pppoe_are_read_or_said_never_raise(kind, data):
    frame = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01" + kind + data
    for wrap in (lambda f: f, lambda f: pcapgen.gre(f, bridged=False)[:20] + b"\x00\x00\x65\x58" + f):
        raw = pcap([Packet(1764000000.0, wrap(frame))], link="raw")
        read_capture(raw[:20] + struct.pack("<I", 1) + raw[24:] if wrap(frame) is frame else raw)


def test_a_gzip_compressed_capture_is_read_inflated(tmp_path):
    # (tcpdump -z gzip, rotated captures): refused with "decompress it first (gunzip)"
    plain = pcap(conversation().packets)
    data = gzip.compress(plain)
    assert is_packet_capture(data) and not is_packet_capture(gzip.compress(b"<soap/>"))
    capture = read_capture(data)
    assert [m.body for m in capture.messages] == [m.body for m in read_capture(plain).messages] != []
    assert capture.notes == ["the capture is gzip-compressed: read inflated"]
    # rotated files appended to one another: each gzip member in turn (one half in each, cut anywhere)
    assert read_capture(gzip.compress(plain[:1000]) + gzip.compress(plain[1000:])).messages[1].body == \
        capture.messages[1].body
    path = tmp_path / "mmsc.pcap.gz"
    path.write_bytes(data)
    proc = run("validate", str(path))
    assert proc.returncode == 0 and f"{path}#1" in proc.stdout and f"{path}#2" in proc.stdout, \
        proc.stdout + proc.stderr
    inspected = json.loads(run("inspect", str(path)).stdout)
    assert [m["message_type"] for m in inspected["messages"]] == ["SubmitReq", "SubmitRsp"]
    assert inspected["notes"] == ["the capture is gzip-compressed: read inflated"]


def test_gzip_compressed_bodies_and_http_captures_are_read_inflated(tmp_path):
    request, response = submit()
    for name, data, kind in [("submit.http.gz", request, "SubmitReq"), ("answer.xml.gz", response.split(b"\r\n\r\n", 1)[1],
                                                                         "SubmitRsp")]:
        path = tmp_path / name
        path.write_bytes(gzip.compress(data))
        proc = run("validate", str(path))
        assert proc.returncode == 0 and f"valid ({kind}, REL-6-MM7-1-4)" in proc.stdout, proc.stdout + proc.stderr
        assert json.loads(run("inspect", str(path)).stdout)["message_type"] == kind


def test_a_saved_http_message_with_a_chunked_or_compressed_body_is_read_as_a_captured_one(tmp_path):
    # A proxy's or a log's copy of one HTTP message: its body was decoded as it stood (chunk sizes,
    # gzip) and refused, where the same message in a packet capture was read.
    _, response = submit()
    body = response.split(b"\r\n\r\n", 1)[1]
    zipped = gzip.compress(body)

    def chunks(data: bytes) -> bytes:
        return b"".join(b"%x\r\n%s\r\n" % (len(data[i : i + 100]), data[i : i + 100])
                        for i in range(0, len(data), 100)) + b"0\r\n\r\n"

    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\n"
    for name, data, notes in [
        ("chunked", head + b"Transfer-Encoding: chunked\r\n\r\n" + chunks(body),
         ["its body was sent chunked: shown joined"]),
        ("gzip", head + b"Content-Encoding: gzip\r\n\r\n" + zipped, ["its body was sent gzip: shown inflated"]),
        ("both", head + b"Transfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n" + chunks(zipped),
         ["its body was sent chunked: shown joined", "its body was sent gzip: shown inflated"]),
    ]:
        path = tmp_path / f"{name}.http"
        path.write_bytes(data)
        proc = run("validate", str(path))
        assert proc.returncode == 0 and "valid (SubmitRsp, REL-6-MM7-1-4)" in proc.stdout, proc.stdout + proc.stderr
        inspected = json.loads(run("inspect", str(path)).stdout)
        assert inspected["message_type"] == "SubmitRsp" and inspected["http"]["notes"] == notes, inspected
    path = tmp_path / "plain.http"
    path.write_bytes(head + b"\r\n" + body)
    assert "notes" not in json.loads(run("inspect", str(path)).stdout)["http"]


def test_a_saved_http_message_whose_content_length_is_not_its_bodys_says_so(tmp_path):
    # A saved message's Content-Length was not looked at: a capture cut short then failed as a bare
    # XML or MIME error, and a vendor document's made-up length (45454 on a 2 KB request) went unsaid
    _, response = submit()
    body = response.split(b"\r\n\r\n", 1)[1]
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: "
    for name, length, saved, notes in [
        ("exact", b"%d" % len(body), body, None),
        ("repeated", b"%d, %d" % (len(body), len(body)), body, None),  # (as some proxies send it: one length)
        ("length past the body", b"45454", body,
         [f"its Content-Length says 45454 bytes, {len(body)} were saved (cut short, or its line ends changed "
          "when it was saved): the body is read as saved"]),
        ("length short of the body", b"100", body, [f"its Content-Length says 100 bytes, {len(body)} were saved: the body is read as saved"]),
        ("placeholder", b"nnnn", body, ["its Content-Length (nnnn) is no length: the body is read as saved"]),
    ]:
        path = tmp_path / f"{name.replace(' ', '-')}.http"
        path.write_bytes(head + length + b"\r\n\r\n" + saved)
        inspected = json.loads(run("inspect", str(path)).stdout)
        assert inspected["message_type"] == "SubmitRsp" and inspected["http"].get("notes") == notes, inspected
    # cut short in the saving: the decode error says why
    path = tmp_path / "cut.http"
    path.write_bytes(head + b"%d" % len(body) + b"\r\n\r\n" + body[:-40])
    proc = run("inspect", str(path))
    assert proc.returncode == 2
    said = json.loads(proc.stdout)["message"]
    assert said.endswith(f"(the saved HTTP message: its Content-Length says {len(body)} bytes, {len(body) - 40} were "
                         "saved (cut short, or its line ends changed when it was saved): the body is read as saved)"), said


def test_a_gzip_file_is_inflated_within_a_bound_and_a_broken_one_said_to_be(tmp_path, monkeypatch):
    from mm7bind import pcap as module
    from mm7bind.pcap import gunzip

    monkeypatch.setattr(module, "GUNZIP_ALLOWANCE", 100_000)  # (what any file may inflate to past 100 times its size)
    assert gunzip(gzip.compress(bytes(100_000))) == bytes(100_000)
    bomb = gzip.compress(bytes(2_000_000))  # (2 KB: a thousand times smaller)
    with pytest.raises(mm7.LimitExceededError, match=rf"inflates past {100 * len(bomb) + 100_000} bytes \(100 times "
                                                     r"its size and 100000 bytes more, \d+ at most read whole\): a "
                                                     "decompression bomb"):
        gunzip(bomb)
    noise = random.Random(1).randbytes(300_000)  # (past the allowance, and within 100 times its size)
    assert gunzip(gzip.compress(noise)) == noise
    with pytest.raises(mm7.LimitExceededError, match="inflates past"):  # (the members counted together)
        gunzip(gzip.compress(bytes(80_000)) + gzip.compress(bytes(80_000)))
    whole = gzip.compress(b"<soap/>" * 100)
    assert gunzip(whole + bytes(512)) == b"<soap/>" * 100  # (zeros after the end: padding)
    for broken, why in [(whole[:-6], "ends before its gzip end"), (whole + b"junk", "4 bytes after its gzip end"),
                        (whole[:10] + b"\xff" * 20, "not readable as gzip")]:
        with pytest.raises(DecodeError, match=why):
            gunzip(broken)
    # the command says so, a file at a time
    path = tmp_path / "cut.xml.gz"
    path.write_bytes(whole[:-6])
    proc = run("validate", str(path))
    assert proc.returncode != 0 and "unreadable: the file is gzip-compressed and ends before its gzip end" in \
        proc.stdout, proc.stdout + proc.stderr
    assert "ends before its gzip end" in json.loads(run("inspect", str(path)).stdout)["message"]


def test_a_gzip_file_of_many_members_is_inflated_in_linear_time(inflater_feeds):
    # After each member the rest of the file was taken as a copy (zlib's unused_data): time
    # quadratic in the number of members (a second for 40,000 small ones, hours for millions).
    from mm7bind.pcap import gunzip

    fed = inflater_feeds
    member = gzip.compress(b"<soap/>")
    assert gunzip(member * 2000 + bytes(10)) == b"<soap/>" * 2000
    assert sum(fed) < 1100 * 2000  # (the rest after each member: 54 MB)
    noise = random.Random(2).randbytes(3_000_000)  # (a member fed in growing windows)
    assert gunzip(gzip.compress(noise) + member) == noise + b"<soap/>"


def test_a_gzip_file_of_members_each_inflating_past_a_read_is_read_to_its_last_member():
    # A member whose inflating met the bound of one read took its end's window twice (zlib's
    # unconsumed_tail and unused_data both hold what follows the member): the next member was
    # looked for bytes too early, "bytes after its gzip end that are none", or in a capture read
    # with partial, dropped with a note.
    from mm7bind.pcap import Gunzipped

    first, second = bytes(600_000), b"<soap/>" * 10
    data = gzip.compress(first) + gzip.compress(second)
    inflated = Gunzipped(data)
    assert b"".join(iter(lambda: inflated.read(1 << 18), b"")) == first + second
    padded = pcap([Packet(1764000000.0, bytes(50_000)) for _ in range(12)] + conversation().packets, link="raw")
    capture = read_capture(gzip.compress(padded[:400_000]) + gzip.compress(padded[400_000:]))
    assert capture.notes == ["the capture is gzip-compressed: read inflated"] and len(capture.messages) == 2


def test_a_file_cut_short_and_packets_cut_by_the_snapshot_length():
    data = pcap(conversation().packets)
    capture = read_capture(data[:-30])
    assert any("the file ends inside" in n for n in capture.notes) and len(capture.messages) == 2
    short = read_capture(pcap(conversation(mss=300).packets, snaplen=200))
    # Said once each, not for every packet (tcpdump -s 96 cuts every one with data).
    assert [n for n in short.notes if "snapshot length" in n] == [
        ("20 packet(s) cut short by the capture's snapshot length (the first: packet 4): bytes are missing "
         "(tcpdump -s 0 keeps whole packets)")]
    gaps = [n for n in short.notes if "were not captured" in n]
    # (the last segments' tails too, which only the FINs say were sent)
    assert len(gaps) == 3 and "bytes from 10.0.0.1:40000 were not captured, in 18 places" in gaps[0]
    unread = [n for n in short.notes if "could not be read" in n]
    assert unread[0].endswith("18 places in what 10.0.0.1:40000 sent could not be read as HTTP messages; the first: "
                              "a message from 10.0.0.1:40000 whose headers were not all captured, left out")
    assert len(short.notes) == 6
    with pytest.raises(DecodeError, match="not a packet capture"):
        read_capture(b"<soap/>")


def test_a_fin_in_a_packet_cut_by_the_snapshot_length_follows_its_bytes_not_those_captured():
    """A FIN carried with data in a packet the snapshot length cut says where the bytes end by the
    sequence number and the payload sent, not captured: the tail cut off is said as bytes not
    captured, as any gap is, not read as the stream's end (a body running to the close shown whole)."""
    for version in (4, 6):
        flow = Flow(client=("10.0.0.1", 40000) if version == 4 else ("2001:db8::1", 40000),
                    server=("10.0.0.2", 8080) if version == 4 else ("2001:db8::2", 8080)).open()
        flow.send(True, http("GET /mm7/status HTTP/1.1", {"Host": "mmsc"}))
        head = http("HTTP/1.0 200 OK", {"Content-Type": "text/plain"})
        flow.send(False, head)
        flow.add(False, FIN | ACK | PSH, b"x" * 600)  # (the body, to the close, with the FIN)
        flow.add(True, FIN | ACK)
        kept = 14 + (20 if version == 4 else 40) + 20 + 100
        capture = read_capture(pcap(flow.packets, snaplen=kept))
        request, answer = capture.messages
        assert answer.body == b"x" * 100
        server = flow.server[0] if version == 4 else f"[{flow.server[0]}]"
        assert [n for n in capture.notes if "were not captured" in n] == [
            (f"connection 1 ({flow.client[0] if version == 4 else f'[{flow.client[0]}]'}:40000 → {server}:8080): 500 "
             f"bytes from {server}:8080 were not captured (after byte {len(head) + 100}): the message they were in "
             "is shown cut short, or left out if its start is missing")]


@given(st.data())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_damaged_captures_are_read_as_far_as_they_go_never_crash(data):
    # Hostile or broken files: whatever the bytes, the reader says what it found or refuses with
    # a DecodeError; nothing else escapes it.
    whole = data.draw(st.sampled_from([
        pcap(conversation(mss=300).packets),
        pcap(conversation(Flow(client=("2001:db8::1", 1), server=("2001:db8::2", 2))).packets, link="sll2"),
        pcapng([[("ethernet", 9, conversation().packets)]]),
        pcap(fragmented(conversation(Flow(client=("2001:db8::1", 1), server=("2001:db8::2", 2))).packets,
                        before=(0,), after=(60,))),
        pcap(fragmented(conversation().packets)),
    ]))
    raw = bytearray(whole)
    for _ in range(data.draw(st.integers(0, 8))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    damaged = bytes(raw[:cut])
    if data.draw(st.booleans()):
        damaged = gzip.compress(damaged)
    from mm7bind.pcap import read_capture_file

    # (read from a file in pieces, as from bytes: a damaged length stops both in the same place)
    try:
        from_file = fields(read_capture_file(Trickle(damaged, data.draw(st.sampled_from([1, 13, 1 << 20])))))
    except DecodeError as exc:
        from_file = str(exc)
    try:
        capture = read_capture(damaged)
    except DecodeError as exc:
        assert from_file == str(exc)
        return
    assert from_file == fields(capture)
    for msg in capture.messages:
        assert isinstance(msg.body, bytes) and msg.start_line


def test_inspect_and_validate_read_a_capture(tmp_path):
    path = tmp_path / "mmsc.pcap"
    flow = conversation()
    bad = Flow(client=("10.0.0.1", 40002), time=flow.time + 1).open()
    bad.send(True, http("POST /mm7 HTTP/1.1", {"Content-Type": "text/xml", "Content-Length": "7",
                                               "Authorization": "Basic c3A6c2VjcmV0"}, b"<soap/>"))
    bad.send(False, http("HTTP/1.1 401 Unauthorized", {"Content-Type": "text/plain", "Content-Length": "24"},
                         b"authentication required\n"))  # (no MM7: listed by inspect, not validated)
    path.write_bytes(pcap(flow.packets + bad.packets))
    proc = run("inspect", str(path), "--extract", str(tmp_path / "parts"))
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert sorted(shown) == ["messages", "notes"]  # (an object, as `inspect --help` says: not a bare list)
    assert "{messages: every HTTP message in it, notes}" in " ".join(run("inspect", "--help").stdout.split())
    first, answer, broken, challenge = shown["messages"]
    assert challenge["body"] == {"content_type": "text/plain", "size": 24} and "error" not in challenge
    assert first["message_type"] == "SubmitReq" and first["from"] == "10.0.0.1:40000" and first["connection"] == 1
    assert first["http"]["start_line"] == "POST /mm7 HTTP/1.1" and first["fields"]["subject"] == "你好"
    assert answer["message_type"] == "SubmitRsp" and "message_type" not in broken and broken["error"]["message"]
    # (the capture's credentials masked, as a log shows them)
    assert broken["http"]["headers"]["Authorization"] == "Basic ***" and "c3A6c2VjcmV0" not in proc.stdout
    assert sorted(p.name for p in (tmp_path / "parts" / "1").iterdir()) == sorted(first["extracted"])
    proc = run("validate", str(path))
    assert proc.returncode == 2, proc.stdout  # the third one is no MM7 message
    lines = proc.stdout.splitlines()
    # (with the packet each began in: Wireshark's frame number, the SYN, SYN-ACK and ACK before the request)
    answered = starting(flow.packets, b"HTTP/1.1")
    assert lines[0].startswith(f"{path}#1 (packet 4, 10.0.0.1:40000 → 10.0.0.2:8080: POST /mm7 HTTP/1.1): valid "
                               "(SubmitReq")
    assert lines[1].startswith(f"{path}#2 (packet {answered}, 10.0.0.2:8080 → 10.0.0.1:40000: HTTP/1.1 200 OK): "
                               "valid (SubmitRsp")
    assert "#3" in lines[2] and "unreadable" in lines[2]
    proc = run("validate", "--json", str(path))
    found = json.loads(proc.stdout)
    assert [f["result"] for f in found] == ["valid", "valid", "unreadable"]
    assert found[0]["capture"]["connection"] == 1 and found[0]["path"] == f"{path}#1"


@pytest.mark.parametrize("client,server", [(("10.0.0.1", 40000), ("10.0.0.2", 8080)),
                                           (("::1", 40000), ("::1", 8080))])
def test_super_segments_longer_than_an_ip_length_can_say(client, server):
    # Captured on a Linux host with BIG TCP (loopback, or a NIC doing GRO/TSO), one packet carries
    # up to hundreds of kilobytes: IPv4 says a total length of 0, IPv6 a payload length of 0 and
    # the real one in a hop-by-hop jumbo option.
    _, response = submit()
    photo = mm7.Part.from_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 800, "image/jpeg")
    out = mm7.encode(mm7.SubmitReq(vaspid="800001", vasid="1065888", recipients=["+8613800138000"],
                                   content=mm7.Content(parts=[photo])), transaction_id="big", version="REL-6-MM7-1-4")
    body = out.to_bytes()
    flow = Flow(client=client, server=server).open()
    flow.send(True, http("POST /mm7 HTTP/1.1", {"Content-Type": out.content_type, "Content-Length": str(len(body))},
                         body), mss=150000)
    flow.send(False, response)
    capture = read_capture(pcap(flow.close().packets))
    assert len(flow.packets[3].ip) > 65535 + 40
    assert capture.notes == []
    req, rsp = capture.messages
    assert req.body == body and not req.notes and decoded(req).body.content.parts[0].size == 204804
    assert decoded(rsp).body.message_id == "m-1"


def test_a_request_sent_with_the_syn_as_tcp_fast_open_does():
    request, response = submit()
    flow = Flow()
    flow.add(True, 0x02, request)  # (SYN: its data follows its sequence number)
    flow.add(False, 0x02 | ACK)
    flow.seq["c"] += 1 + len(request)
    flow.seq["s"] += 1
    flow.send(False, response)
    req, rsp = read_capture(pcap(flow.close().packets)).messages
    assert req.start_line == "POST /mm7 HTTP/1.1" and decoded(req).body.ELEMENT == "SubmitReq"
    assert decoded(rsp).body.message_id == "m-1"


def test_a_long_keep_alive_connection_is_read_in_one_pass():
    # Thousands of small exchanges on one connection (a busy SP's link): looking for the end of
    # each message's headers must not run on through the rest of the connection each time (it
    # took about a minute for this capture of 12 MB; now a second).
    flow = Flow().open()
    for n in range(10000):
        flow.send(True, http("POST /mm7 HTTP/1.1", {"Content-Type": "text/xml", "Content-Length": "1000"}, bytes(1000)))
        flow.send(False, http("HTTP/1.1 204 No Content", {}))
    capture = read_capture(pcap(flow.close().packets, link="raw"))
    assert len(capture.messages) == 20000 and capture.notes == []


def test_a_capture_begun_with_a_bare_ack_of_the_server_in_the_middle_of_a_request():
    # Joined mid-connection, the first packet is as often as not the server's ACK: it says nothing
    # of who the client is; the requests that follow do.
    request, response = submit()
    flow = Flow()
    flow.add(False, ACK)
    flow.send(True, request[len(request) // 2 :])  # (the rest of a request whose start was missed)
    flow.send(False, response)
    flow.send(True, request.replace(b"cap-1", b"cap-2"))
    flow.send(False, response)
    capture = read_capture(pcap(flow.packets))
    assert [(m.source, m.is_request) for m in capture.messages] == [
        ("10.0.0.2:8080", False), ("10.0.0.1:40000", True), ("10.0.0.2:8080", False)]
    assert decoded(capture.messages[1]).transaction_id == "cap-2"


def test_a_content_length_repeated_with_one_value_is_one_length():
    request, response = submit()
    head, _, body = request.partition(b"\r\n\r\n")
    length = b"Content-Length: %d" % len(body)
    twice = head.replace(length, length + b"\r\n" + length) + b"\r\n\r\n" + body  # (as some proxies pass it on)
    flow = Flow().open()
    flow.send(True, twice)
    flow.send(False, response)
    flow.send(True, http("POST /mm7 HTTP/1.1", {"Content-Length": "7, 8"}, b"<soap/>"))
    first, _, broken = read_capture(pcap(flow.packets)).messages
    assert first.body == body and decoded(first).body.ELEMENT == "SubmitReq" and not first.notes
    assert broken.body == b"" and broken.notes == ["its Content-Length (7, 8) is no length: read as none"]


@pytest.mark.parametrize("size", [b"-5", b"+5", b"0x5"])
def test_a_chunk_size_that_is_no_hexadecimal_number_ends_the_body(size):
    # (a negative size once sent the reader back to the same line, for ever)
    flow = Flow().open()
    flow.send(True, b"POST /mm7 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n" + size
              + b"\r\nxxxxx\r\n0\r\n\r\n")
    (msg,) = read_capture(pcap(flow.packets)).messages
    assert msg.body == b"hello"
    assert msg.notes == ["its chunked body is cut short in the capture: what was captured of it is shown"]


def test_a_stream_past_2_gib_is_read_on_past_the_sequence_numbers_wrapping():
    # TCP's sequence numbers wrap every 4 GiB: a direction sending more than 2 GiB was cut there
    # (its later segments taken for ones before the stream's start) with no word of it. Here the
    # client's requests are captured every GiB of its stream, the bytes between them not.
    flow = Flow().open()
    for n in range(6):
        flow.seq["c"] = (1001 + n * (1 << 30)) & 0xFFFFFFFF
        flow.send(True, http("POST /mm7 HTTP/1.1", {"Content-Length": "3", "X-N": str(n)}, b"abc"))
    capture = read_capture(pcap(flow.packets))
    assert [m.headers["X-N"] for m in capture.messages] == ["0", "1", "2", "3", "4", "5"]
    assert [m.body for m in capture.messages] == [b"abc"] * 6
    (gaps,) = [n for n in capture.notes if "were not captured" in n]
    assert f"{5 * ((1 << 30) - len(http('POST /mm7 HTTP/1.1', {'Content-Length': '3', 'X-N': '0'}, b'abc')))} bytes" in gaps


def test_connections_without_data_take_little_memory():
    # A SYN scan, or a capture of a server refusing connections: hundreds of thousands of
    # connections without a byte of data. Each took about 1.4 KB (20 times its packets' size).
    import tracemalloc

    from .pcapgen import SYN

    packets = []
    for i in range(20000):
        flow = Flow(client=(f"10.1.{i >> 8 & 255}.{i & 255}", 1024 + i), time=1764000000.0 + i / 1000)
        flow.add(True, SYN)
        flow.add(False, RST | ACK)
        packets += flow.packets
    data = pcap(packets, link="raw")
    tracemalloc.start()
    try:
        capture = read_capture(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert capture.messages == [] and capture.notes == []
    assert peak < 5 * len(data), peak / len(data)


@pytest.mark.parametrize("client,server,before,after", [
    (("10.0.0.1", 40000), ("10.0.0.2", 8080), (), ()),
    (("2001:db8::1", 40000), ("2001:db8::2", 80), (), ()),
    # (extension headers before the fragment header, in each fragment, and after it, in the payload)
    (("2001:db8::1", 40000), ("2001:db8::2", 80), (0, 60, 43), (60,)),
])
def test_fragmented_ip_packets_are_put_back_together(client, server, before, after):
    # A path with a small MTU (a tunnel, a VPN) and no path MTU discovery: each segment reaches the
    # capturing host in fragments, here last first, one of them captured twice.
    from .pcapgen import fragments

    request, response = submit()
    flow = Flow(client=client, server=server).open()
    sent = flow.send(True, request, 1400)
    flow.send(False, response, 1400)
    flow.close()
    packets = []
    for n, packet in enumerate(flow.packets):
        if packet in sent:
            pieces = fragments(packet, 512, ident=n, before=before, after=after)[::-1]
            packets += pieces + pieces[1:2]
        else:
            packets.append(packet)
    capture = read_capture(pcap(packets))
    assert capture.notes == []
    req, rsp = capture.messages
    assert req.body == request.partition(b"\r\n\r\n")[2] and decoded(req).body.ELEMENT == "SubmitReq"
    assert decoded(rsp).body.message_id == "m-1"
    assert abs(req.time.timestamp() - sent[0].time) < 1e-5


def test_fragments_that_cannot_be_put_back_together_are_said():
    from .pcapgen import fragments

    request, response = submit()
    flow = Flow().open()
    sent = flow.send(True, request, 1400)
    flow.send(False, response, 1400)
    packets = []
    for n, packet in enumerate(flow.packets):
        pieces = fragments(packet, 512, ident=n) if packet in sent else [packet]
        if packet is sent[1]:
            del pieces[1]  # never captured
        if packet is sent[2]:  # sent again with other bytes over the same place (as an attack does)
            pieces.insert(1, Packet(packet.time, pieces[1].ip[:-8] + b"XXXXXXXX"))
            pieces[1] = Packet(packet.time, pieces[1].ip[:6] + struct.pack("!H", 0x2000 | 66) + pieces[1].ip[8:])
        packets += pieces
    capture = read_capture(pcap(packets))
    assert capture.notes[:2] == [
        ("1 fragmented IP packet(s) with overlapping or inconsistent fragments, discarded (as a receiver discards "
         "them: which bytes it would have taken cannot be known) (the first: packet 11)"),
        ("1 fragmented IP packet(s) not put back together: fragments of them were not captured, skipped (the first: "
         "packet 7)")]
    assert any("2800 bytes from 10.0.0.1:40000 were not captured (after byte 1400)" in n for n in capture.notes)
    req, rsp = capture.messages
    assert "cut short" in req.notes[0] and decoded(rsp).body.message_id == "m-1"


def test_hostile_fragments_and_extension_headers_end_quickly_with_a_note():
    # Whatever a capture's fragments and extension headers say, reading ends soon, in bounded
    # memory, each kind of trouble said once with its count; the rest of the capture is read.
    import tracemalloc

    from mm7bind.pcap import MAX_EXTENSION_HEADERS, MAX_FRAGMENTS, MAX_PENDING

    from .pcapgen import extension, ipv4_fragment, ipv6_packet

    def frag6(ident: int, offset: int, more: bool, data: bytes, following: int = 6) -> bytes:
        return struct.pack("!BBHI", following, 0, offset | more, ident) + data

    made: list[bytes] = []
    # One packet in thousands of 8-byte fragments.
    made += [ipv4_fragment(1, n * 8, True, bytes(8), src="10.8.0.1") for n in range(10000)]
    # Overlapping fragments (different bytes over the same place), a thousand packets of them.
    for n in range(1000):
        made += [ipv4_fragment(n, 0, True, bytes(16), src="10.7.0.1"), ipv4_fragment(n, 8, False, b"\xff" * 16,
                                                                                     src="10.7.0.1")]
    # A fragment reaching past 64 KiB, in IPv4, in IPv6, and a jumbogram's (which cannot be fragmented).
    made.append(ipv4_fragment(2, 65528, False, bytes(16), src="10.6.0.1"))
    made.append(ipv6_packet(44, frag6(3, 65528, False, bytes(16))))
    made.append(ipv6_packet(0, struct.pack("!BBBBI", 44, 0, 0xC2, 4, 200016) + frag6(4, 8, False, bytes(200000))))
    # Extension headers chained without end, out of place, pointing past the packet, and a
    # fragment header inside a fragmented packet (a fragment of a fragment).
    chain = b"".join(extension(60, 60) for _ in range(5000)) + extension(60, 6)
    made += [ipv6_packet(60, chain)] * 100
    made.append(ipv6_packet(60, extension(60, 0) + extension(0, 6) + bytes(20)))
    made.append(ipv6_packet(60, bytes([6, 200]) + bytes(6)))
    inner = frag6(5, 0, True, bytes(16))
    made += [ipv6_packet(44, frag6(6, 0, True, inner[:8], 44)), ipv6_packet(44, frag6(6, 8, False, inner[8:], 44))]
    # A flood of first fragments whose others never come: each a packet waiting.
    flood = len(made) + 1
    made += [ipv4_fragment(n, 0, True, bytes(8), src=f"10.9.{n >> 16}.1") for n in range(MAX_PENDING * 30)]
    packets = [Packet(1764000000.0 + n / 1000, ip) for n, ip in enumerate(made)]
    flow = conversation(Flow(time=packets[-1].time + 1))
    data = pcap(packets + flow.packets, link="raw")
    tracemalloc.start()
    try:
        capture = read_capture(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [m.start_line for m in capture.messages] == ["POST /mm7 HTTP/1.1", "HTTP/1.1 200 OK"]
    assert capture.notes == [
        f"1 fragmented IP packet(s) in more than {MAX_FRAGMENTS} fragments, discarded (the first: packet 129)",
        ("1000 fragmented IP packet(s) with overlapping or inconsistent fragments, discarded (as a receiver discards "
         "them: which bytes it would have taken cannot be known) (the first: packet 10002)"),
        "3 fragmented IP packet(s) with a fragment reaching past 65,535 bytes, discarded (the first: packet 12001)",
        (f"100 IPv6 packet(s) with more than {MAX_EXTENSION_HEADERS} extension headers, skipped (the first: packet "
         "12004)"),
        ("3 IPv6 packet(s) whose extension headers are out of place, repeated or cut short, skipped (the first: "
         "packet 12104)"),
        (f"{MAX_PENDING * 29} fragmented IP packet(s) dropped unfinished: more than {MAX_PENDING} were waiting for "
         f"fragments at once (the first: packet {flood})"),
        (f"{MAX_PENDING} fragmented IP packet(s) not put back together: fragments of them were not captured, "
         f"skipped (the first: packet {flood + MAX_PENDING * 29})")]
    assert peak < len(data) / 2, peak / len(data)  # (the waiting fragments' memory is bounded)


def test_a_request_whose_expect_100_continue_got_a_final_answer_may_come_without_its_body():
    # A client sending Expect: 100-continue and answered at once with a final status (401 for its
    # credentials, 413, 417) sends the body all the same, or closes the connection, or sends its
    # next request without the body: that request was read as the first one's body.
    request, response = submit()
    head, _, body = request.partition(b"\r\n\r\n")
    expecting = head + b"\r\nExpect: 100-continue\r\n\r\n"
    challenge = http("HTTP/1.1 401 Unauthorized", {"WWW-Authenticate": 'Basic realm="mm7"', "Content-Length": "0"})
    flow = Flow().open()  # the next request follows, with credentials
    flow.send(True, expecting)
    flow.send(False, challenge)
    flow.send(True, expecting.replace(b"Expect:", b"Authorization: Basic dTpw\r\nExpect:"))
    flow.send(False, b"HTTP/1.1 100 Continue\r\n\r\n")
    flow.send(True, body)
    flow.send(False, response)
    sent = Flow(client=("10.0.0.1", 40001), time=flow.time + 1).open()  # the body sent all the same
    sent.send(True, expecting)
    sent.send(False, http("HTTP/1.1 413 Payload Too Large", {"Content-Length": "0"}))
    sent.send(True, body + b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    closed = Flow(client=("10.0.0.1", 40002), time=sent.time + 1).open()  # the connection closed instead
    closed.send(True, expecting)
    closed.send(False, http("HTTP/1.1 417 Expectation Failed", {"Content-Length": "0"}))
    closed.close()
    half = Flow(client=("10.0.0.1", 40003), time=closed.time + 1).open()  # the server's side not captured
    half.send(True, expecting + b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    half.packets = [p for p in half.packets if p.ip[12:16] == bytes([10, 0, 0, 1])]
    capture = read_capture(pcap(flow.packets + sent.packets + closed.packets + half.packets))
    assert capture.notes == []
    shown = [(m.connection, m.start_line, len(m.body), m.notes) for m in capture.messages]
    assert shown == [
        (1, "POST /mm7 HTTP/1.1", 0, [("sent without its body: the server answered 401 to its Expect: "
                                       "100-continue, and the next request followed")]),
        (1, "HTTP/1.1 401 Unauthorized", 0, []),
        (1, "POST /mm7 HTTP/1.1", len(body), []), (1, "HTTP/1.1 100 Continue", 0, []),
        (1, "HTTP/1.1 200 OK", len(response.partition(b"\r\n\r\n")[2]), []),
        (2, "POST /mm7 HTTP/1.1", len(body), []), (2, "HTTP/1.1 413 Payload Too Large", 0, []),
        (2, "GET /health HTTP/1.1", 0, []),
        (3, "POST /mm7 HTTP/1.1", 0, [("sent without its body: the server answered 417 to its Expect: "
                                       "100-continue, and no more came")]),
        (3, "HTTP/1.1 417 Expectation Failed", 0, []),
        (4, "POST /mm7 HTTP/1.1", 0, [("read without its body, which the bytes after its headers do not begin "
                                       "(the next request does): its Expect: 100-continue was answered in what the "
                                       "capture lacks (a guess)")]),
        (4, "GET /health HTTP/1.1", 0, [])]
    assert decoded(capture.messages[2]).body.ELEMENT == "SubmitReq"


def test_a_fragment_identification_used_again_later_is_another_packet():
    # Identifications are 16 bits in IPv4: a busy sender uses one again. A fragment with that of a
    # packet put together moments before is that packet captured twice; seconds later, another.
    from .pcapgen import fragments

    flow = Flow().open()
    packets = list(flow.packets)
    for n in range(2):
        flow.time += 5
        (segment,) = flow.send(True, http("POST /mm7 HTTP/1.1", {"Content-Length": "1000", "X-N": str(n)},
                                          bytes([n]) * 1000))
        pieces = fragments(segment, 512, ident=7)
        packets += pieces + pieces[:1]  # (captured twice)
    capture = read_capture(pcap(packets))
    assert capture.notes == []
    assert [(m.headers["X-N"], m.body) for m in capture.messages] == [("0", bytes(1000)), ("1", b"\x01" * 1000)]


def test_a_connections_runs_are_let_go_before_its_bodies_are_made(monkeypatch):
    """A connection's bytes joined in sequence (its runs) and the bodies cut from them were held at
    once: a capture of one large message took its size twice over, beside the capture itself. The
    bodies are made of the capture's bytes once the runs are read and let go, and the segments
    once they are joined."""
    import tracemalloc

    import mm7bind.pcap

    body = random.Random(7).randbytes(4_000_000)
    flow = Flow().open()
    flow.send(True, http("POST /mm7 HTTP/1.1", {"Host": "m", "Content-Length": str(len(body))}, body))
    flow.send(False, http("HTTP/1.1 204 No Content", {}, b""))
    data = pcap(flow.close().packets)
    held, segments = [], []
    make, stream = mm7bind.pcap._Body.make, mm7bind.pcap._stream

    def making(self, *args):
        held.append(tracemalloc.get_traced_memory()[0])  # (what this reading holds as the body is made)
        return make(self, *args)

    def joining(side):
        out = stream(side)
        segments.append(None if side is None else len(side.segments))
        return out

    monkeypatch.setattr(mm7bind.pcap._Body, "make", making)
    monkeypatch.setattr(mm7bind.pcap, "_stream", joining)
    tracemalloc.start()
    try:
        req, rsp = read_capture(data).messages
    finally:
        tracemalloc.stop()
    assert req.body == body and rsp.body == b"" and rsp.start_line == "HTTP/1.1 204 No Content"
    assert len(held) == 1 and held[0] < len(body) // 2  # (the run, as long as the body, is gone)
    assert segments == [0, 0]


class Trickle:
    """A binary file handing out at most `step` bytes a read, as a pipe may; `at`: bytes read so far."""

    def __init__(self, data: bytes, step: int):
        self.data, self.step, self.at = data, step, 0

    def read(self, n: int = -1) -> bytes:
        n = self.step if n < 0 else min(n, self.step)
        out = self.data[self.at : self.at + n]
        self.at += len(out)
        return out


def fields(capture) -> tuple:
    return [vars(m) for m in capture.messages], capture.notes


@pytest.mark.parametrize("kind", ["pcap", "pcapng", "modified"])
def test_a_capture_read_from_a_file_in_pieces_is_read_as_from_bytes(kind):
    from mm7bind.pcap import read_capture_file

    request, _ = submit()
    lost = Flow(client=("10.0.0.1", 40001)).open()
    sent = lost.send(True, request, 500)
    lost.packets.remove(sent[1])
    packets = conversation().packets + fragmented(conversation(Flow(time=1764000001.0, client=("10.0.0.1", 40002)))
                                                  .packets) + lost.packets
    packets.sort(key=lambda p: p.time)
    data = pcapng([[("ethernet", 6, packets)]]) if kind == "pcapng" else pcap(packets, modified=kind == "modified")
    whole = read_capture(data)
    assert len(whole.messages) == 5 and whole.notes
    for step in (1, 7, 1500, 1 << 20):
        assert fields(read_capture_file(Trickle(data, step))) == fields(whole)


def test_a_retransmission_after_both_fins_is_read_within_the_grace_and_said_after_it():
    """A connection is read once it is closed both ways and its grace has passed: a segment lost
    before the FINs comes again after them (its sender's timer), and must still be read."""
    from mm7bind.pcap import CaptureStream, in_capture_order

    request, response = submit()
    flow = Flow().open()
    sent = flow.send(True, request, 500)
    flow.packets.remove(lost := sent[1])
    flow.send(False, response, 500)
    flow.close()
    again = Packet(flow.time + 1.0, lost.ip)  # (resent a second after the FINs)
    repeat = Packet(flow.time + 1.0, sent[0].ip)  # (and one read already: nothing to say)
    other = conversation(Flow(client=("10.0.0.1", 40001), time=flow.time + 0.6))
    later = conversation(Flow(client=("10.0.0.1", 40002), time=flow.time + 100))
    data = pcap(sorted(flow.packets + other.packets + [again, repeat] + later.packets, key=lambda p: p.time))
    whole = read_capture(data)
    req = whole.messages[0]
    assert req.body == request.split(b"\r\n\r\n", 1)[1] and not req.notes and whole.notes == []
    file = Trickle(data, 1000)
    stream = CaptureStream(file)
    done_at = {}
    for msg in stream:
        done_at.setdefault(msg.connection, file.at)
    # Read as a stream: the same, and each connection read before the capture ends
    assert done_at[1] < len(data) and done_at[2] < len(data)
    stream = CaptureStream(Trickle(data, 1000))
    assert fields(type(whole)(in_capture_order(list(stream)), stream.notes)) == fields(whole)
    # A grace shorter than the retransmission took: the connection was read without it, and the
    # late segment is said (the one repeating bytes read is not)
    stream = CaptureStream(data, close_grace=0.5)
    cut = in_capture_order(list(stream))[0]
    assert "cut short" in cut.notes[0] and len(cut.body) < len(req.body)
    assert stream.notes[-1] == ("connection 1 (10.0.0.1:40000 → 10.0.0.2:8080): 1 segment(s) with bytes not read "
                                "came after it had closed both ways and 0.5 more seconds of the capture passed (or "
                                "its bytes were let go to bound the memory held): not read")


def test_a_connection_idle_long_is_read_and_read_on_when_it_sends_again():
    from mm7bind.pcap import CaptureStream, in_capture_order

    request, response = submit()
    keep = Flow().open()
    for n in range(3):
        keep.send(True, request.replace(b"cap-1", b"cap-%d" % n), 600)
        keep.send(False, response, 600)
        keep.time += 40  # (idle between exchanges, as a kept-alive connection is)
    keep.close()
    others = [conversation(Flow(client=("10.0.0.1", 41000 + n), time=1764000000.0 + 10 * n)).packets
              for n in range(12)]
    data = pcap(sorted(keep.packets + [p for packets in others for p in packets], key=lambda p: p.time))
    whole = read_capture(data)
    mine = [m for m in whole.messages if m.connection == 1]
    assert [decoded(m).transaction_id for m in mine if m.is_request] == ["cap-0", "cap-1", "cap-2"]
    assert [m.start_line for m in mine if not m.is_request] == ["HTTP/1.1 200 OK"] * 3
    file = Trickle(data, 1000)
    stream = CaptureStream(file, idle=20)
    got, first = [], None
    for msg in stream:
        got.append(msg)
        if msg.connection == 1 and first is None:
            first = file.at
    assert first < len(data) // 2  # (its first exchange read long before the capture's end)
    assert fields(type(whole)(in_capture_order(got), stream.notes)) == fields(whole)


def posts_of(body: bytes) -> bytes:
    """A capture of 200 connections, each a POST of `body` and its 204."""
    packets = []
    for n in range(200):
        flow = Flow(client=("10.0.0.1", 40000 + n), time=1764000000.0 + n).open()
        flow.send(True, http("POST /mm7 HTTP/1.1", {"Host": "m", "Content-Length": str(len(body))}, body))
        flow.send(False, http("HTTP/1.1 204 No Content", {}, b""))
        packets += flow.close().packets
    return pcap(packets)


def streamed_with_peak(path, body: bytes) -> tuple[int, int]:
    """How many messages CaptureStream reads from the file at `path` (each carrying `body`, or
    nothing), and the most memory Python held meanwhile."""
    import tracemalloc

    from mm7bind.pcap import CaptureStream

    count = 0
    tracemalloc.start()
    try:
        with path.open("rb") as file:
            for msg in CaptureStream(file, close_grace=2):
                count += 1
                assert msg.body in (body, b"")
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_capture_read_as_a_stream_holds_its_open_connections_not_the_file(tmp_path):
    """A capture of gigabytes could not be read: it was held whole, and every connection until its
    end. Read from its file as a stream, with each message let go once seen, what is held at once
    is the connections open (and those in their grace) and a piece of the file."""
    body = random.Random(3).randbytes(60_000)
    path = tmp_path / "many.pcap"
    path.write_bytes(posts_of(body))
    count, peak = streamed_with_peak(path, body)
    assert count == 400
    assert peak < path.stat().st_size / 10, (peak, path.stat().st_size)


def test_inspect_and_validate_number_messages_in_the_capture_s_order_though_read_as_connections_end(tmp_path):
    """Read as a stream, a short connection is done and read before a long one begun earlier: the
    messages are still numbered and listed by when they began, --extract's folders too."""
    request, response = submit()
    other = request.replace(b"cap-1", b"cap-2")
    long = Flow().open()
    long.send(True, request)
    short = conversation(Flow(client=("10.0.0.1", 40001), time=long.time + 1))
    long.time += 200  # (answered late: the short one's grace has passed by then)
    long.send(False, response)
    long.close()
    short2 = Flow(client=("10.0.0.1", 40002), time=long.time + 1).open()
    short2.send(True, other)
    short2.send(False, response)
    short2.close()
    path = tmp_path / "mixed.pcap"
    path.write_bytes(pcap(sorted(long.packets + short.packets + short2.packets, key=lambda p: p.time)))
    proc = run("inspect", str(path), "--extract", str(tmp_path / "parts"))
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)["messages"]
    assert [(m["number"], m["connection"], m["http"]["start_line"][:4]) for m in shown] == [
        (1, 1, "POST"), (2, 2, "POST"), (3, 2, "HTTP"), (4, 1, "HTTP"), (5, 3, "POST"), (6, 3, "HTTP")]
    assert [m["transaction_id"] for m in shown] == ["cap-1", "cap-1", "cap-1", "cap-1", "cap-2", "cap-1"]
    for m in shown:
        if m["http"]["start_line"].startswith("POST"):
            assert sorted(p.name for p in (tmp_path / "parts" / str(m["number"])).iterdir()) == sorted(m["extracted"])
    assert sorted(p.name for p in (tmp_path / "parts").iterdir()) == ["1", "2", "5"]
    for extract in ([], ["--extract", str(tmp_path / "piped")]):  # (a pipe: read once)
        piped = subprocess.run([sys.executable, "-m", "mm7bind.cli", "inspect", "-", *extract], capture_output=True,
                               input=path.read_bytes(), env=ENV, cwd=ROOT, timeout=120, check=True)
        assert [{k: v for k, v in m.items() if k != "extracted"} for m in json.loads(piped.stdout)["messages"]] == [
            {k: v for k, v in m.items() if k != "extracted"} for m in shown]
    assert sorted(p.name for p in (tmp_path / "piped").iterdir()) == ["1", "2", "5"]
    proc = run("validate", str(path))
    assert [line.split(" ", 1)[0] for line in proc.stdout.splitlines() if "#" in line.split(" ", 1)[0]] == [
        f"{path}#{n}" for n in range(1, 7)]


class Asked(Trickle):
    """A Trickle that keeps the most bytes one read asked for (a file object allocates that much)."""

    most = 0

    def read(self, n: int = -1) -> bytes:
        self.most = max(self.most, n)
        return super().read(n)


def test_a_bogus_record_or_block_length_is_said_never_read_into_memory_or_waited_for():
    """A damaged file's record saying 4 GiB were captured was read as such: from a file, a read of
    4 GiB asked (allocated, or waited for from a pipe). Both readers now stop there, saying so."""
    from mm7bind.pcap import read_capture_file

    packets = conversation().packets
    data = bytearray(pcap(packets))
    at = 24 + sum(16 + 14 + len(p.ip) for p in packets[:5])  # (packet 6's record)
    struct.pack_into("<I", data, at + 8, 0xFFFFFFF0)
    whole = read_capture(bytes(data))
    assert whole.notes[0] == (f"packet 6: its record says {0xFFFFFFF0} bytes were captured, more than the file's "
                              f"packets can have (262144): the file is damaged there (byte {at}), read no further")
    assert [m.start_line for m in whole.messages] == ["POST /mm7 HTTP/1.1"]
    file = Asked(bytes(data), 1 << 30)
    assert fields(read_capture_file(file)) == fields(whole) and file.most <= 1 << 20
    # pcapng: a block's total length
    intact = pcapng([[("ethernet", 6, packets)]])
    ng = bytearray(intact)
    at = 28 + 32  # (past the section header and the interface description)
    for _ in range(5):
        at += struct.unpack_from("<I", ng, at + 4)[0]
    struct.pack_into("<I", ng, at + 4, 0xFFFFFFF0)
    whole = read_capture(bytes(ng))
    assert whole.notes[0] == (f"the block at byte {at} says it is {0xFFFFFFF0} bytes long, which no block is: the "
                              "file is damaged there, read no further")
    assert [m.start_line for m in whole.messages] == ["POST /mm7 HTTP/1.1"]
    file = Asked(bytes(ng), 1 << 30)
    assert fields(read_capture_file(file)) == fields(whole) and file.most <= 1 << 20
    # one only cut short is said to be
    assert read_capture(intact[: at + 40]).notes[0].startswith(f"the file ends inside a block (byte {at},")
    assert read_capture(intact[: at + 10]).notes == [  # (its header too: said, as a pcap record's is)
        f"the file ends inside a block (byte {at}, its first 10 bytes): cut short"]


def test_a_gzip_compressed_capture_is_read_as_a_stream_within_gunzips_bound(tmp_path, monkeypatch):
    """A gzip-compressed capture was inflated whole before it was read: a .pcap.gz of gigabytes
    held in memory. It is read inflated in pieces, as a plain one, within the same bound."""
    from mm7bind import pcap as module
    from mm7bind.pcap import read_capture_file

    body = random.Random(4).randbytes(60_000)
    plain = posts_of(body)
    path = tmp_path / "many.pcap.gz"
    path.write_bytes(gzip.compress(plain, compresslevel=1))
    count, peak = streamed_with_peak(path, body)
    assert count == 400
    assert peak < len(plain) / 5, (peak, len(plain))
    # The same as from the bytes, and from a pipe handing out a little at a time
    small = pcap(conversation().packets)
    whole = read_capture(gzip.compress(small[:900]) + gzip.compress(small[900:]) + bytes(100))
    assert fields(whole) == fields(read_capture_file(Trickle(gzip.compress(small[:900]) + gzip.compress(small[900:])
                                                             + bytes(100), 7)))
    assert whole.notes == ["the capture is gzip-compressed: read inflated"] and len(whole.messages) == 2
    # A bomb is stopped at gunzip's bound, counted from the file's size (or, from a pipe, from what came so far)
    monkeypatch.setattr(module, "GUNZIP_ALLOWANCE", 100_000)
    bomb = gzip.compress(small + bytes(3_000_000))
    path.write_bytes(bomb)
    for source in (bomb, Trickle(bomb, 1000)):
        with pytest.raises(mm7.LimitExceededError, match=rf"the capture is gzip-compressed and inflates past "
                                                         rf"{100 * len(bomb) + 100_000 if source is bomb else ''}"):
            read_capture_file(source) if not isinstance(source, bytes) else read_capture(source)
    with path.open("rb") as file, pytest.raises(mm7.LimitExceededError,
                                                match=f"inflates past {100 * len(bomb) + 100_000} bytes"):
        read_capture_file(file)
    # Cut short (a .pcap.gz still being written, or copied so), corrupt, or with bytes after it that are
    # no gzip: it was unreadable, nothing of it shown, where a plain capture cut short is read as far as
    # it goes. Read so too, said.
    zipped = gzip.compress(small)
    corrupt = bytearray(zipped)
    corrupt[len(zipped) // 2 :] = b"\xff" * (len(zipped) - len(zipped) // 2)  # (a stretch overwritten)
    for broken, why, count in [
            (zipped[:-6], "ends before its gzip end (cut short, or still being written)", 2),
            (zipped + b"junk", "with 4 bytes after its gzip end that are none", 2),
            (zipped[: len(zipped) // 2], "ends before its gzip end (cut short, or still being written)", 1),
            (bytes(corrupt), "", 1)]:  # (what garbage inflates to, or where it stops, is the bytes')
        for capture in (read_capture_file(Trickle(broken, 100)), read_capture(broken)):
            assert capture.notes[:2] == ["the capture is gzip-compressed: read inflated",
                                         capture.notes[1]], capture.notes
            assert capture.notes[1].startswith("the capture is gzip-compressed") and why in capture.notes[1] \
                and capture.notes[1].endswith(": read as far as it inflates"), capture.notes
            assert len(capture.messages) == count, capture.notes


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="named pipes")
def test_inspect_extract_reads_a_capture_once_a_named_pipe_too(tmp_path):
    """--extract's folders are named after the messages' numbers, known at the capture's end: the
    capture was read twice (its file opened again), so a named pipe (`inspect <(zcat x.pcap.gz)`)
    waited for ever for a second writer. Read once, each message's parts are written as it comes
    and moved to its number's folder at the end; into folders there already as Content.save writes."""
    import os
    import threading

    request, response = submit()
    late = Flow().open()
    late.send(True, request.replace(b"cap-1", b"cap-0"))
    early = conversation(Flow(client=("10.0.0.1", 40001), time=late.time + 1))
    late.time += 200  # (answered late: the other connection is read first, its messages numbered after)
    late.send(False, response)
    data = pcap(sorted(late.close().packets + early.packets, key=lambda p: p.time))
    fifo = tmp_path / "capture"
    os.mkfifo(fifo)
    parts = tmp_path / "parts"
    runs = []
    for _ in range(2):
        writer = threading.Thread(target=lambda: fifo.write_bytes(data), daemon=True)
        writer.start()
        proc = subprocess.run([sys.executable, "-m", "mm7bind.cli", "inspect", str(fifo), "--extract", str(parts)],
                              capture_output=True, env=ENV, cwd=ROOT, timeout=60, text=True, check=False)
        writer.join()
        assert proc.returncode == 0, proc.stderr
        runs.append(json.loads(proc.stdout)["messages"])
    first, again = runs
    assert [(m["number"], m["connection"], m.get("transaction_id")) for m in first] == [
        (1, 1, "cap-0"), (2, 2, "cap-1"), (3, 2, "cap-1"), (4, 1, "cap-1")]
    names = first[0]["extracted"]
    assert len(names) == 3 and len(first[1]["extracted"]) == 3 and first[2]["extracted"] == []
    # (the second run into the same folders: its files beside the first's, as Content.save puts them)
    assert again[0]["extracted"] == [f"{stem}-2.{ext}" for stem, ext in (name.rsplit(".", 1) for name in names)]
    assert sorted(p.name for p in parts.iterdir()) == ["1", "2"]  # (nothing else left in DIR)
    for n in ("1", "2"):
        assert sorted(p.name for p in (parts / n).iterdir()) == sorted(first[n == "2"]["extracted"]
                                                                       + again[n == "2"]["extracted"])
    assert (parts / "1" / names[2]).read_bytes() == (parts / "1" / again[0]["extracted"][2]).read_bytes() \
        == submit_photo()


def test_a_pcapng_block_whose_closing_length_differs_from_its_opening_one_ends_the_reading():
    """A block's length is written at its start and again at its end; they were not compared, so a
    block overwritten or spliced in the middle was read as if whole, and what followed it misread."""
    packets = conversation().packets
    intact = pcapng([[("ethernet", 6, packets)]])
    ng = bytearray(intact)
    at = 28 + 32  # (past the section header and the interface description)
    for _ in range(5):
        at += struct.unpack_from("<I", ng, at + 4)[0]
    length = struct.unpack_from("<I", ng, at + 4)[0]
    struct.pack_into("<I", ng, at + length - 4, length + 8)
    capture = read_capture(bytes(ng))
    assert capture.notes[0] == (f"the block at byte {at} says it is {length} bytes long at its start and "
                                f"{length + 8} at its end: the file is damaged there, read no further")
    assert [m.start_line for m in capture.messages] == ["POST /mm7 HTTP/1.1"]
    # (a big-endian file's too, its section header's included)
    big = bytearray(pcapng([[("ethernet", 6, packets)]], order=">"))
    struct.pack_into(">I", big, 24, 1)
    assert read_capture(bytes(big)).notes == [
        ("the block at byte 0 says it is 28 bytes long at its start and 1 at its end: the file is damaged there, "
         "read no further")]
    assert read_capture(intact).notes == []


def _rotated_conversation():
    """A SubmitReq exchange whose connection the file's rotation cut in two, 5 s apart: the request,
    the response, and the packets before and after the rotation."""
    request, response = submit()
    flow = Flow(time=1764000000.0).open()
    flow.send(True, request[:1000])
    older = list(flow.packets)
    flow.time += 5  # (the file rotated)
    flow.send(True, request[1000:])
    flow.send(False, response)
    return request, response, older, flow.close().packets[len(older):]


def test_a_capture_joined_out_of_time_order_reads_a_connection_on_both_sides_of_the_join_whole():
    """`cat new.pcapng old.pcapng` (a ring buffer's files in the wrong order): a connection begun in
    the old file and ended in the new one comes with its end first. Its SYN, coming after its other
    packets, was taken for a new connection on the same ports: the request split in two, neither
    read whole. A SYN from before a connection's first packet is its own; the step back is said."""
    from mm7bind.pcap import read_capture_file

    request, response, older, newer = _rotated_conversation()
    # (from a pipe, read once as it comes: the files joined in it are not put in time order first)
    capture = read_capture_file(Trickle(pcapng([[("ethernet", 6, newer)], [("ethernet", 6, older)]]), 1 << 20))
    assert [(m.connection, m.start_line, m.body) for m in capture.messages] == [
        (1, "POST /mm7 HTTP/1.1", request.split(b"\r\n\r\n", 1)[1]),
        (1, "HTTP/1.1 200 OK", response.split(b"\r\n\r\n", 1)[1])]
    assert capture.notes == [
        (f"a file joined with cat (a pcap file or pcapng section) at byte {len(pcapng([[('ethernet', 6, newer)]]))} "
         "begins before the ones before it end: files joined out of time order are read in the order they are in, "
         "not of their times (the capture comes from a pipe, read once: save it to a file first to have them read in "
         "time order, or write it in time order with reordercap)"),
        (f"the capture's times go back {newer[-1].time - older[0].time:.3f} seconds at packet {len(newer) + 1}: "
         "files joined out of time order (cat, mergecap -a), or a clock set back; a connection whose packets lie on "
         "both sides of such a place may be read in pieces (reordercap writes the capture in time order)")]
    # (in time order: nothing said)
    assert read_capture(pcapng([[("ethernet", 6, older)], [("ethernet", 6, newer)]])).notes == []


def starting(packets: list[Packet], data: bytes, nth: int = 1) -> int:
    """The number, from 1, of the `nth` of `packets` whose TCP payload begins with `data`."""
    found = [n for n, p in enumerate(packets, 1) if p.ip[40:].startswith(data)]
    return found[nth - 1]


@pytest.mark.parametrize("join", ["pcap", "pcapng", "pcapng+pcap"])
def test_files_joined_with_cat_out_of_time_order_are_read_in_time_order(tmp_path, capsys, join):
    """`cat new.pcap old.pcap`, a connection begun in the old file and ended in the new one, the new
    file going on past its grace: read in the file's order, its end was read before its start came,
    the request cut short and the rest "no HTTP message". A capture that can be read again (bytes, a
    file, not a pipe) has its joined files read in the order of their times; each packet keeps its
    number in the file as it is (Wireshark's, where it reads it: pcapng sections)."""
    from mm7bind.cli import main
    from mm7bind.pcap import read_capture_file

    request, response, older, newer = _rotated_conversation()
    other = conversation(Flow(client=("10.0.0.1", 40001), time=newer[-1].time + 120))
    first = newer + other.packets
    if join == "pcap":
        parts = [pcap(first), pcap(older, nano=True)]
    elif join == "pcapng":
        parts = [pcapng([[("ethernet", 6, first)]]), pcapng([[("sll", 9, older)]], order=">")]
    else:
        parts = [pcapng([[("ethernet", 6, first)]]), pcap(older, link="sll2")]
    data = b"".join(parts)
    path = tmp_path / "joined.pcap"
    path.write_bytes(data)
    with path.open("rb") as file:
        for capture in (read_capture(data), read_capture_file(file)):
            assert [(m.connection, m.start_line, m.body, m.packet) for m in capture.messages] == [
                (1, "POST /mm7 HTTP/1.1", request.split(b"\r\n\r\n", 1)[1], len(first) + 4),
                (1, "HTTP/1.1 200 OK", response.split(b"\r\n\r\n", 1)[1], starting(first, b"HTTP/1.1")),
                (2, "POST /mm7 HTTP/1.1", request.split(b"\r\n\r\n", 1)[1], starting(first, b"POST")),
                (2, "HTTP/1.1 200 OK", response.split(b"\r\n\r\n", 1)[1], starting(first, b"HTTP/1.1", 2))], \
                capture.notes
            assert capture.notes == [
                "2 files joined with cat (pcap files or pcapng sections, not merged with mergecap) are not in time "
                f"order: read in the order of their packets' times, those at bytes {len(parts[0])}, 0"]
    assert main(["validate", str(path)]) == 0
    assert [line.split(" →", 1)[0] for line in capsys.readouterr().out.splitlines()] == [
        f"{path}#{n} (packet {m.packet}, {m.source}" for n, m in enumerate(capture.messages, 1)]
    # (a file of no packets joined last, its header cut short, as cat of one still being written: no time
    # of its own, it changes nothing)
    cut = read_capture(data + pcap([])[:10])
    assert [m.body for m in cut.messages] == [m.body for m in capture.messages], cut.notes
    # (in time order: read in one pass as before, nothing said of the order)
    in_order = read_capture(b"".join(reversed(parts)))
    assert [m.body for m in in_order.messages] == [m.body for m in capture.messages]
    assert not any("time order" in n for n in in_order.notes), in_order.notes


def test_files_joined_out_of_time_order_in_a_capture_read_once_are_said_to_be_and_what_to_do():
    """A gzip-compressed capture or a pipe is read once, as it comes: files joined with cat in it out
    of time order cannot be read in the order of their times (as a file's are). Only the times going
    back were said; now where, why and what to do (gunzip it, save it, reordercap)."""
    import io

    from mm7bind.pcap import read_capture_file

    class Pipe(io.BytesIO):
        def seekable(self):
            return False

    request, response, older, newer = _rotated_conversation()
    other = conversation(Flow(client=("10.0.0.1", 40001), time=newer[-1].time + 120))
    first = pcap(newer + other.packets)
    joined = first + pcapng([[("ethernet", 6, older)]])
    for capture, why in ((read_capture(gzip.compress(joined)), "the capture is gzip-compressed, read once as it "
                          "inflates: gunzip it first"),
                         (read_capture_file(Pipe(joined)), "the capture comes from a pipe, read once: save it to a "
                          "file first")):
        inflated = " of the capture inflated" if "gzip" in why else ""
        said = [n for n in capture.notes if n.startswith("a file joined with cat")]
        assert said == [f"a file joined with cat (a pcap file or pcapng section) at byte {len(first)}{inflated} begins "
                        "before the ones before it end: files joined out of time order are read in the order they are "
                        f"in, not of their times ({why} to have them read in time order, or write it in time order "
                        "with reordercap)"], capture.notes
    # (in time order, or a file read again in time order: nothing of the kind said)
    in_order = pcapng([[("ethernet", 6, older)]]) + first
    for capture in (read_capture(gzip.compress(in_order)), read_capture_file(Pipe(in_order)), read_capture(joined)):
        assert not any(n.startswith("a file joined with cat") for n in capture.notes), capture.notes
        assert [m.body for m in capture.messages][:2] == [request.split(b"\r\n\r\n", 1)[1],
                                                          response.split(b"\r\n\r\n", 1)[1]]


def test_a_connection_read_already_is_not_given_the_packets_from_before_it_as_late_ones():
    """The same, the new file long enough for the connection to be read before the old file's part
    of it comes: those bytes were taken for late retransmissions of it and dropped (said as such).
    From before its first packet, they are no retransmission: read as a connection of their own."""
    from mm7bind.pcap import read_capture_file

    request, response = submit()
    flow = Flow(time=1764000000.0).open()
    flow.send(True, request[:1000])
    older = flow.packets[3:]  # (the old file's part: joined mid-connection, no SYN)
    flow.time += 5
    flow.send(True, request[1000:])
    flow.send(False, response)
    newer = flow.close().packets[3 + len(older):]
    other = conversation(Flow(client=("10.0.0.1", 40001), time=newer[-1].time + 120))
    piped = functools.partial(Trickle, step=1 << 20)  # (read once as it comes: see the test before)
    capture = read_capture_file(piped(pcapng([[("ethernet", 6, newer + other.packets)], [("ethernet", 6, older)]])))
    heads = [(m.connection, m.start_line) for m in capture.messages]
    assert (3, "POST /mm7 HTTP/1.1") in heads, heads
    assert not any("came after it had closed" in n for n in capture.notes), capture.notes
    # (but a copy of bytes read, as a second capture of the same traffic, its clock behind, joined after
    # the first has them, is no connection of its own: dropped as before)
    copies = [Packet(p.time - 30, p.ip) for p in newer if len(p.ip) > 60]
    again = read_capture_file(piped(pcapng([[("ethernet", 6, newer + other.packets)], [("ethernet", 6, copies)]])))
    assert [(m.connection, m.start_line) for m in again.messages] == [
        (1, "HTTP/1.1 200 OK"), (2, "POST /mm7 HTTP/1.1"), (2, "HTTP/1.1 200 OK")], again.notes


def test_a_connections_grace_is_counted_from_its_latest_packet_not_from_a_fin_timed_earlier():
    """Merged captures whose clocks differ (mergecap of the client's and the server's, an interface
    whose clock is behind) can have a FIN timed before the data it follows. The close's grace was
    counted from the FIN's time: the connection read at once, before a retransmission of a segment
    lost, which was then dropped as late and the response read cut short."""
    request, response = submit()
    flow = Flow().open()
    flow.send(True, request)
    sent = flow.send(False, response, 400)
    lost = sent[1]
    flow.packets.remove(lost)
    flow.close()
    for fin in flow.packets[-2:]:
        fin.time -= 100
    other = conversation(Flow(client=("10.0.0.1", 40001), time=flow.time + 1))
    lost.time = other.time + 1
    capture = read_capture(pcap(flow.packets + other.packets + [lost]))
    assert [m.body for m in capture.messages if m.connection == 1] == [
        request.split(b"\r\n\r\n", 1)[1], response.split(b"\r\n\r\n", 1)[1]], capture.notes
    assert not any("came after it had closed" in n for n in capture.notes), capture.notes


def test_inspect_extract_removes_the_hidden_folders_of_runs_killed_never_a_live_ones(tmp_path):
    """A run of `inspect --extract DIR` killed midway left its hidden folder in DIR for ever. Its
    name holds its process: a later run removes those whose process is gone; one of a run still
    going, or named by no process (made where /proc does not tell, or by a release before), stays."""
    from urllib.parse import quote

    from mm7bind.holders import this_process

    me = this_process()
    if me is None:
        pytest.skip("/proc does not tell this process's start")
    machine, pid, _ = me.rsplit(":", 2)
    dead = f"{machine}:{pid}:0"  # (its pid another process's now: a start time not its own)
    parts = tmp_path / "parts"
    left = {name: parts / name for name in (f".mm7bind-extracting-{quote(dead, safe='')}-abc_1234",
                                            f".mm7bind-extracting-{quote(me, safe='')}-def_5678",
                                            ".mm7bind-extracting-ghi_9012", ".other")}
    for folder in left.values():
        (folder / "0").mkdir(parents=True)
        (folder / "0" / "photo.jpg").write_bytes(b"x")
    path = tmp_path / "mmsc.pcap"
    path.write_bytes(pcap(conversation().packets))
    proc = run("inspect", str(path), "--extract", str(parts))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.name for p in parts.iterdir()) == sorted(["1", *list(left)[1:]])
    # (a run's own folder is named so: the next one can tell it from a live run's)
    from mm7bind.cli import _Extracting

    assert _Extracting._prefix() == f".mm7bind-extracting-{quote(me, safe='')}-"


def test_a_compressed_capture_read_in_pieces_is_bounded_in_time_not_refused_for_its_size(tmp_path, monkeypatch):
    """A .pcap.gz read in pieces was refused past 1 GiB inflated (MAX_GUNZIPPED), though memory
    held a piece of it: a day's capture of a busy link, read as it is uncompressed, was refused
    compressed. From a pipe, a first stretch compressing better than 100 times (keep-alives,
    padding) was refused once past 64 MiB. The bound is 100 times the size and an allowance
    (GUNZIP_ALLOWANCE, a few hundred MiB) more: time like a file's of that size; MAX_GUNZIPPED
    bounds what is held, `gunzip`'s whole reads."""
    from mm7bind import pcap as module
    from mm7bind.pcap import gunzip, read_capture_file

    monkeypatch.setattr(module, "MAX_INFLATED", 100_000)  # (a body's bound: what any file could inflate to)
    monkeypatch.setattr(module, "GUNZIP_ALLOWANCE", 400_000, raising=False)  # (four times it, as 256 MiB is 64 MiB)
    monkeypatch.setattr(module, "MAX_GUNZIPPED", 200_000)
    packets = [p for n in range(40) for p in conversation(Flow(client=("10.0.0.1", 40000 + n),
                                                                time=1764000000.0 + n)).packets]
    plain = pcap(packets)
    assert len(plain) > 200_000 and len(gzip.compress(plain)) * 100 > len(plain)
    path = tmp_path / "big.pcap.gz"
    path.write_bytes(gzip.compress(plain))
    with path.open("rb") as file:
        assert len(read_capture_file(file).messages) == 80
    with pytest.raises(mm7.LimitExceededError, match="200000 at most read whole"):
        gunzip(gzip.compress(plain))
    # From a pipe: a first stretch of 600 kB of zeros (a kilobyte compressed), then the capture
    padded = pcap([Packet(1764000000.0, bytes(50_000)) for _ in range(12)] + conversation().packets, link="raw")
    assert len(read_capture_file(Trickle(gzip.compress(padded), 100)).messages) == 2


def test_a_captured_body_is_inflated_as_the_receiver_inflates_one():
    """A captured gzip body was inflated by a reader of its own: its first gzip member alone (the
    rest dropped without a word, where the receiver reads every member), and one cut short in the
    capture said to be "shown inflated". Both now read with the receiver's inflater."""
    from mm7bind.codec import decoded_body

    xml = submit()[1].split(b"\r\n\r\n", 1)[1]
    two = gzip.compress(xml[:200]) + gzip.compress(xml[200:])
    for body, notes in [(two, ["its body was sent gzip: shown inflated"]),
                        (gzip.compress(xml)[:-30], ["its gzip body is cut short: what inflates of it is shown"]),
                        (b"\x1f\x8b\x08 not gzip", [("its gzip body could not be inflated (Error -3 while "
                                                     "decompressing data: unknown header flags set): shown as "
                                                     "captured")])]:
        flow = Flow().open()
        flow.send(True, b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        flow.send(False, b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        [_, rsp] = read_capture(pcap(flow.close().packets)).messages
        assert rsp.notes == notes
        if body is two:
            assert rsp.body == xml == decoded_body(two, "gzip", 100_000)
        elif "cut short" in notes[0]:
            assert xml.startswith(rsp.body) and len(rsp.body) > len(xml) // 2



def test_pcap_files_joined_with_cat_are_read_one_after_another():
    """`cat a.pcap b.pcap` (rotated files joined so, not with mergecap): the second file's header
    was read as a packet record, and what followed as a record's length out of a time, "damaged":
    the second file was lost. Each file's header is read in turn, its own settings with it."""
    first = conversation()
    second = conversation(Flow(client=("10.0.0.1", 40001), time=first.time + 10))
    data = pcap(first.packets) + pcap(second.packets, link="sll", order=">", nano=True)
    at = len(pcap(first.packets))
    capture = read_capture(data)
    assert capture.notes == [(f"another pcap file's header at byte {at} (files joined with cat, not mergecap): read "
                              "on with its settings")]
    assert [(m.connection, m.start_line) for m in capture.messages] == [
        (1, "POST /mm7 HTTP/1.1"), (1, "HTTP/1.1 200 OK"), (2, "POST /mm7 HTTP/1.1"), (2, "HTTP/1.1 200 OK")]
    assert [m.body for m in capture.messages[2:]] == [m.body for m in capture.messages[:2]]
    # (one cut inside the second header: said)
    assert read_capture(data[: at + 10]).notes[-1] == (f"the file ends inside the header of another pcap file joined "
                                                       f"to it (byte {at})")


def test_a_file_compressed_otherwise_than_with_gzip_is_said_to_be(tmp_path):
    """A capture or a body compressed with zstd, xz, lz4 or bzip2 (a ring buffer's --compress lz4,
    a rotated file) was "neither XML nor MIME", nothing said of why."""
    import bz2
    import lzma

    plain = pcap(conversation().packets)
    for name, data in [("zstd", b"\x28\xb5\x2f\xfd\x04\x58" + plain[:50]), ("xz", lzma.compress(plain)),
                       ("lz4", b"\x04\x22\x4d\x18\x64\x40\xa7" + plain[:50]), ("bzip2", bz2.compress(plain))]:
        path = tmp_path / f"capture.pcap.{name}"
        path.write_bytes(data)
        proc = run("validate", str(path))
        assert proc.returncode != 0 and f"unreadable: the file is {name}-compressed, which is not read: decompress " \
            "it first" in proc.stdout, proc.stdout + proc.stderr


def test_pcap_and_pcapng_files_joined_with_cat_are_read_one_after_another():
    """tcpdump writes pcap, dumpcap and Wireshark pcapng: files of both joined with cat were read
    as the first one's format to the other's header, "damaged" there, the rest lost."""
    flows = [conversation(Flow(client=("10.0.0.1", 40000 + n), time=1764000000.0 + 10 * n)) for n in range(3)]
    parts = [pcap(flows[0].packets), pcapng([[("sll", 9, flows[1].packets)]], order=">"),
             pcap(flows[2].packets, nano=True)]
    capture = read_capture(b"".join(parts))
    assert capture.notes == [
        (f"a pcapng file's header at byte {len(parts[0])} (files joined with cat, not mergecap): read on with its "
         "settings"),
        (f"a pcap file's header at byte {len(parts[0]) + len(parts[1])} (files joined with cat, not mergecap): read "
         "on with its settings")]
    assert [(m.connection, m.is_request) for m in capture.messages] == [(n, r) for n in (1, 2, 3) for r in (True, False)]
    assert len({m.body for m in capture.messages if m.is_request}) == 1


def test_after_the_capture_s_times_go_back_connections_are_still_read_as_they_are_done():
    """`cat new.pcap old.pcap`: the new file's connections closed or idle at its end are timed after
    all of the old file; waiting for them in turn, every connection of the old file was held to the
    capture's end (its memory too). Those timed after now are passed over."""
    from mm7bind.pcap import CaptureStream

    newer = [conversation(Flow(client=("10.0.0.1", 40000), time=1764010000.0))]
    idle = Flow(client=("10.0.0.1", 40001), time=1764010001.0).open()  # (open at the new file's end)
    older = [conversation(Flow(client=("10.0.0.1", 41000 + n), time=1764000000.0 + 30 * n)) for n in range(80)]
    older_packets = sorted((p for f in older for p in f.packets), key=lambda p: p.time)
    data = pcap(newer[0].packets + idle.packets) + pcap(older_packets)
    file = Trickle(data, 1000)
    stream = CaptureStream(file)
    first = None
    for msg in stream:
        if msg.connection == 3 and first is None:
            first = file.at
    assert first is not None and first < len(data) * 3 // 4, (first, len(data))
    assert stream.notes[0].startswith("another pcap file's header at byte")
    assert stream.notes[1].startswith("a file joined with cat (a pcap file or pcapng section) at byte")
    assert stream.notes[2].startswith("the capture's times go back")


def test_bytes_from_before_where_a_connection_was_joined_coming_after_it_was_read_are_said():
    """A connection joined mid-stream is read from its first byte captured; a segment with bytes
    from before that, coming after the connection was read, was taken for a repeat of bytes read
    (they were below where its reading ended) and dropped without a word."""
    request, response = submit()
    flow = Flow().open()
    early = flow.send(True, request[:700], 700)
    flow.send(True, request[700:], 700)
    flow.send(False, response)
    flow.close()
    joined = [p for p in flow.packets[3:] if p not in early]  # (captured from after its first segment)
    other = conversation(Flow(client=("10.0.0.1", 40001), time=flow.time + 120))
    late = Packet(other.time + 1, early[0].ip)  # (that first segment, sent again: not read)
    capture = read_capture(pcap(joined + other.packets + [late]))
    assert any(n.startswith("connection 1 (") and "1 segment(s) with bytes not read came after it had closed" in n
               for n in capture.notes), capture.notes


def test_a_connection_idle_in_the_middle_of_a_message_is_read_whole_once_the_rest_comes():
    """A connection idle long (a client stalled mid-upload, or the capturing host's clock stepped
    forward) was read as it stood: its message cut short, and the rest, when it came, bytes that
    are "no HTTP message". Its last message not whole is kept back, and read once the rest comes
    (or the capture ends)."""
    request, response = submit()
    stalled = Flow().open()
    stalled.send(True, request[:3000])
    resumed = stalled.time + 1000  # (past IDLE)
    others = [conversation(Flow(client=("10.0.0.1", 41000 + n), time=stalled.time + 100 * n)) for n in range(12)]
    stalled.time = resumed
    stalled.send(True, request[3000:])
    stalled.send(False, response)
    stalled.close()
    packets = sorted(stalled.packets + [p for f in others for p in f.packets], key=lambda p: p.time)
    capture = read_capture(pcap(packets))
    mine = [m for m in capture.messages if m.connection == 1]
    assert [(m.start_line, m.body, m.notes) for m in mine] == [
        ("POST /mm7 HTTP/1.1", request.split(b"\r\n\r\n", 1)[1], []),
        ("HTTP/1.1 200 OK", response.split(b"\r\n\r\n", 1)[1], [])], capture.notes
    assert not any(n.startswith("connection 1 ") for n in capture.notes), capture.notes
    # (the rest never coming: read as it is at the capture's end, said cut short)
    cut = sorted(stalled.packets[:4] + [p for f in others for p in f.packets], key=lambda p: p.time)
    [req] = [m for m in read_capture(pcap(cut)).messages if m.connection == 1]
    assert req.notes[0].startswith("its body is cut short in the capture")
    # (nor when its ports are taken by a new connection meanwhile)
    again = conversation(Flow(time=resumed))
    capture = read_capture(pcap(cut + again.packets))
    assert [(m.connection, m.start_line) for m in capture.messages if m.source.endswith(":40000")] == [
        (1, "POST /mm7 HTTP/1.1"), (14, "POST /mm7 HTTP/1.1")]


def ring_buffer(tmp_path) -> list[str]:
    """A submit and its answer captured by a ring buffer (tcpdump -C/-W) whose files are rotated
    mid-upload and before the answer: the files as a shell glob lists them (ring.pcap10 before
    ring.pcap2), the connection spanning all three."""
    packets = conversation().packets
    a, b = 6, len(packets) - 2 - -(-len(submit()[1]) // 700)  # (the answer's segments, and the FINs)
    names = []
    for name, part in (("ring.pcap1", packets[:a]), ("ring.pcap2", packets[a:b]), ("ring.pcap10", packets[b:])):
        (tmp_path / name).write_bytes(pcap(part))
        names.append(str(tmp_path / name))
    return sorted(names)


def test_a_ring_buffers_files_are_read_as_one_capture_in_time_order(tmp_path):
    """A connection spanning files of a ring buffer given as several files was read in pieces,
    each file on its own: its request cut short, its answer read as nothing."""
    from mm7bind.pcap import CaptureStream, in_capture_order

    request, response = submit()
    names = ring_buffer(tmp_path)
    stream = CaptureStream(names)
    req, rsp = in_capture_order(list(stream))
    assert request.endswith(req.body) and response.endswith(rsp.body) and req.connection == rsp.connection == 1
    assert (req.file, rsp.file) == (str(tmp_path / "ring.pcap1"), str(tmp_path / "ring.pcap10"))
    assert req.packet == 4 and rsp.packet == 1  # (in its own file: Wireshark's number when that file is opened)
    assert decoded(req).body.ELEMENT == "SubmitReq"
    assert stream.notes == [(f"3 files read as one capture, in the order of their packets' times (not the order "
                             f"given): {', '.join(names[i] for i in (0, 2, 1))}")]


def test_a_file_whose_first_packet_has_a_bogus_timestamp_is_put_in_its_place_among_the_others(tmp_path):
    """Several files were put in the order of their first packets' times: a file whose first packet
    is timed in 1970 (or a year ahead) came before (after) all the others, and a connection spanning
    it and the file before it was read in pieces. A file's time is the median of its first packets'."""
    from mm7bind.pcap import CaptureStream, in_capture_order

    request, response = submit()
    names = ring_buffer(tmp_path)
    second, last = tmp_path / "ring.pcap2", tmp_path / "ring.pcap10"
    packets = conversation().packets
    a, b = 6, len(packets) - 2 - -(-len(response) // 700)
    later = conversation(Flow(client=("10.0.0.1", 40001), time=packets[-1].time + 120))  # (past the first's grace)
    last.write_bytes(pcap(packets[b:] + later.packets))
    for bogus in (packets[0].time + 365 * 86400, 0.0):
        stray = Flow(client=("10.0.0.9", 5000), time=bogus).add(True, 0x02)  # (a SYN of another connection)
        second.write_bytes(pcap([stray, *packets[a:b]]))
        stream = CaptureStream(names)
        req, rsp = in_capture_order([m for m in stream if "10.0.0.1:40000" in (m.source, m.destination)])
        assert (req.body, rsp.body) == (request.split(b"\r\n\r\n", 1)[1], response.split(b"\r\n\r\n", 1)[1])
        assert req.connection == rsp.connection
        assert stream.notes[0].endswith(f"(not the order given): {names[0]}, {second}, {names[1]}"), stream.notes


def test_inspect_and_validate_read_several_capture_files_as_one(tmp_path, capsys):
    from mm7bind.cli import main

    names = ring_buffer(tmp_path)
    (tmp_path / "other.xml").write_bytes(mm7.encode_envelope(mm7.SubmitReq(recipients=mm7.Recipients(to=["1"])),
                                                             transaction_id="t-2", version="REL-6-MM7-1-4"))
    assert main(["inspect", *names]) == 0
    shown = json.loads(capsys.readouterr().out)
    req, rsp = shown["messages"]
    assert req["message_type"] == "SubmitReq" and rsp["message_type"] == "SubmitRsp"
    assert (req["file"], req["packet"], rsp["file"]) == (names[0], 4, names[1])
    assert main(["validate", "--json", str(tmp_path / "other.xml"), *names]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [(f["path"], f["result"]) for f in found] == [(str(tmp_path / "other.xml"), "valid"),
                                                         (f"{names[0]}#1", "valid"), (f"{names[1]}#1", "valid")]
    assert main(["validate", *names]) == 0  # (each with its packet's number in its own file, as Wireshark has it)
    assert [line.split(" →", 1)[0] for line in capsys.readouterr().out.splitlines()] == [
        f"{names[0]}#1 (packet 4, 10.0.0.1:40000", f"{names[1]}#1 (packet 1, 10.0.0.2:8080"]
    assert main(["inspect", names[0], str(tmp_path / "other.xml")]) == 2
    said = json.loads(capsys.readouterr().out)["message"]
    assert "other.xml is no packet capture" in said
    # (what to run instead: the words alone left a first user guessing)
    assert f"(mm7bind inspect {tmp_path / 'other.xml'}; mm7bind validate reads several)" in said, said


def test_one_packet_timed_far_ahead_does_not_read_connections_early():
    """A single packet with a bogus timestamp a year ahead was taken as the capture's time: a
    connection closed both ways just before it was read at once, past its grace, its request cut
    where a segment lost before the close was missing, and that segment's retransmission after it
    dropped as late; and the times were said to go back (files joined out of order)."""
    request, response = submit()
    flow = Flow().open()
    flow.send(True, request, 700)
    closed = conversation(Flow(client=("10.0.0.3", 41000), time=flow.time))
    lost = closed.packets.pop(5)  # (a segment of its request lost, sent again after the close)
    stray = Flow(client=("10.0.0.9", 5000), time=flow.time + 365 * 86400).add(True, 0x02)
    flow.time = closed.time + 1
    flow.send(False, response, 700)
    flow.close()
    packets = [*flow.packets[:6], *closed.packets, stray, Packet(closed.time + 0.5, lost.ip), *flow.packets[6:]]
    capture = read_capture(pcap(packets))
    assert [(m.connection, m.start_line) for m in capture.messages] == [
        (1, "POST /mm7 HTTP/1.1"), (2, "POST /mm7 HTTP/1.1"), (2, "HTTP/1.1 200 OK"), (1, "HTTP/1.1 200 OK")]
    assert all(request.endswith(m.body) or response.endswith(m.body) for m in capture.messages)
    number = packets.index(stray) + 1
    [note] = capture.notes
    assert note.startswith(f"packet {number} is timed 2026-11-24T16:00:00.0") and note.endswith(
        ", far from the packets around it: a bogus timestamp, not taken as the capture's time")


def twins(first: dict, second: dict, later: float = 0.00002) -> list[Packet]:
    """A conversation captured twice (the second's packets `later` seconds after the first's), its
    flows as given to Flow."""
    one = conversation(Flow(**first))
    two = conversation(Flow(**second, time=one.packets[0].time - 0.001 + later))
    return sorted(one.packets + two.packets, key=lambda p: p.time)


def test_a_connection_captured_before_and_after_nat_is_read_once():
    """tcpdump -i any on a container host sees a published port's connection on the outer
    interface and on the container's (its server translated), a masqueraded client's with its
    client translated (and its sequence numbers shifted by a firewall): each message was read twice."""
    request, response = submit()
    published = twins({"client": ("203.0.113.7", 50000), "server": ("10.0.0.5", 8080)},
                      {"client": ("203.0.113.7", 50000), "server": ("172.17.0.2", 8080)})
    masqueraded = twins({"client": ("172.17.0.2", 40000), "server": ("198.51.100.9", 80)},
                        {"client": ("10.0.0.5", 61000), "server": ("198.51.100.9", 80),
                         "seq": {"c": 77000000, "s": 900000}})
    for packets, kept, twin in (
            (published, "203.0.113.7:50000 → 10.0.0.5:8080", "203.0.113.7:50000 → 172.17.0.2:8080"),
            (masqueraded, "172.17.0.2:40000 → 198.51.100.9:80", "10.0.0.5:61000 → 198.51.100.9:80")):
        capture = read_capture(pcap(packets))
        assert [(m.connection, m.start_line) for m in capture.messages] == [(1, "POST /mm7 HTTP/1.1"),
                                                                           (1, "HTTP/1.1 200 OK")]
        assert request.endswith(capture.messages[0].body) and response.endswith(capture.messages[1].body)
        assert capture.notes == [(
            f"connection 2 ({twin}): the same bytes both ways as connection 1 ({kept}), moments apart, its ends "
            "translated: one connection captured twice, before and after an address translation (NAT: a container's "
            "published port, a masqueraded client; tcpdump -i any sees both), read once, as that one")]


@pytest.mark.parametrize("second,later", [
    ({"client": ("203.0.113.7", 50001)}, 5.0),  # the same bytes sent again later, on a new connection
    ({"client": ("203.0.113.7", 50001)}, 0.00002),  # ... at once: its address is the same (no translation)
    ({"client": ("203.0.113.8", 50000), "seq": {"c": 5, "s": 7}}, 0.00002),  # another client: its own sequence numbers
])
def test_connections_with_the_same_bytes_that_are_no_nat_twins_are_each_read(second, later):
    packets = twins({"client": ("203.0.113.7", 50000)}, second, later)
    capture = read_capture(pcap(packets))
    assert sorted(m.connection for m in capture.messages) == [1, 1, 2, 2] and capture.notes == []


def test_packets_cut_inside_their_tcp_or_ip_header_by_the_snapshot_length_are_said():
    """A snapshot length cutting a packet inside its TCP header (`tcpdump -s 64`, an IPv6 packet
    on a VLAN) or its IP header: every packet was skipped without a word, the capture read as no
    message and no note."""
    v6 = Flow(client=("2001:db8::1", 40000), server=("2001:db8::2", 80))
    for flow, link, snaplen in [(Flow(), "ethernet", 14 + 20 + 10), (v6, "vlan10", 64), (Flow(), "ethernet", 24)]:
        packets = conversation(flow).packets
        capture = read_capture(pcap(packets, link=link, snaplen=snaplen))
        assert capture.messages == []
        assert capture.notes == [f"{len(packets)} packet(s) cut short by the capture's snapshot length (the first: "
                                 "packet 1): bytes are missing (tcpdump -s 0 keeps whole packets)"]


def test_a_tcp_segment_whose_header_length_is_impossible_is_said_and_skipped():
    """A damaged segment whose data offset is under 5 words was read with its own header as data
    (garbage in the middle of a message, its good copy after it taken as a repeat)."""
    packets = conversation().packets
    for offset in (0, 4):
        broken = bytearray(packets[4].ip)  # (a segment of the request)
        broken[20 + 12] = (offset << 4) | (broken[20 + 12] & 0x0F)
        capture = read_capture(pcap(packets[:4] + [Packet(packets[4].time, bytes(broken))]
                                    + [Packet(packets[4].time + 0.01, packets[4].ip)] + packets[5:]))
        assert [m.body for m in capture.messages] == [m.body for m in read_capture(pcap(packets)).messages]
        assert capture.notes == ["1 TCP segment(s) whose header length is under 20 bytes, skipped (the first: "
                                 "packet 5)"]


def test_packets_named_in_the_notes_of_several_files_are_counted_in_their_own(tmp_path):
    """Read as one capture, the files' packets were named in the notes by their count over all the
    files, which no file opened alone has."""
    from mm7bind.pcap import CaptureStream

    packets = conversation().packets
    (tmp_path / "a.pcap").write_bytes(pcap(packets[:5]))
    (tmp_path / "b.pcap").write_bytes(pcap(packets[5:], snaplen=60))  # (cut short by the snapshot length)
    stream = CaptureStream([tmp_path / "a.pcap", tmp_path / "b.pcap"])
    list(stream)
    assert f"snapshot length (the first: packet 1 of {tmp_path / 'b.pcap'})" in stream.notes[1]


def test_a_quiet_capture_and_a_clock_set_forward_are_no_bogus_timestamps():
    """A packet far from the capture's time is one only where the next comes back: conversations
    minutes apart, or a clock set forward, are the capture's time; a packet a year ahead followed
    by one minutes on is still one."""
    quiet = [p for n in range(4) for p in conversation(Flow(client=("10.0.0.1", 40000 + n),
                                                            time=1764000000.0 + 120 * n)).packets]
    capture = read_capture(pcap(quiet))
    assert len(capture.messages) == 8 and capture.notes == []
    stray = Flow(client=("10.0.0.9", 5000), time=1764000000.0 + 365 * 86400).add(True, 0x02)
    capture = read_capture(pcap([*quiet[:14], stray, *quiet[14:]]))  # (before minutes of quiet)
    assert len(capture.messages) == 8 and len(capture.notes) == 1 and "a bogus timestamp" in capture.notes[0]


def test_a_bogus_timestamp_does_not_keep_its_connection_from_being_read_when_done():
    """The connection of a packet timed a year ahead kept that time as its latest: its grace, or its
    idleness, counted from it, its bytes were held to the capture's end (read after connections
    still open then)."""
    from mm7bind.pcap import CaptureStream

    request, response = submit()
    long = Flow(client=("10.0.0.3", 41000)).open()  # (open to the end)
    short = conversation(Flow(time=long.time))
    short.packets[-3].time += 365 * 86400  # (its response's last segment: a bogus time)
    long.time = short.time + 2000  # (past IDLE)
    long.send(True, request, 700)
    long.send(False, response, 700)
    packets = [*long.packets[:3], *short.packets, *long.packets[3:]]
    assert [m.connection for m in CaptureStream(pcap(packets))] == [2, 2, 1, 1]


def test_several_files_one_of_them_joined_with_cat_out_of_time_order_are_numbered_on(tmp_path):
    """Several files read as one, one of them files joined with cat out of time order (read in
    time order, its packets keeping their numbers): the next file was numbered on from the last
    packet read, not from the file's count of packets, and a message of the first file was said
    to begin in a packet of the next."""
    from mm7bind.pcap import CaptureStream, in_capture_order

    older = conversation(Flow(client=("10.0.0.1", 40001), time=1764000000.0))
    newer = conversation(Flow(client=("10.0.0.1", 40002), time=1764000060.0))
    later = conversation(Flow(client=("10.0.0.1", 40003), time=1764000600.0))
    a, b = str(tmp_path / "a.pcap"), str(tmp_path / "b.pcap")
    (tmp_path / "a.pcap").write_bytes(pcap(newer.packets) + pcap(older.packets))
    (tmp_path / "b.pcap").write_bytes(pcap(later.packets))
    stream = CaptureStream([a, b])
    messages = in_capture_order(list(stream))
    assert [(m.source, m.file, m.packet) for m in messages if m.start_line.startswith("POST")] == [
        ("10.0.0.1:40001", a, len(newer.packets) + 4), ("10.0.0.1:40002", a, 4), ("10.0.0.1:40003", b, 4)], \
        stream.notes


def test_strict_validate_lists_a_refused_request_s_soapaction_among_its_deviations(tmp_path):
    # --lenient listed a request's SOAPAction (the MM7 namespace URI, as Skycore's documentation
    # sends it) with the rest; strict validation, refusing the body for another slip, left it out,
    # so fixing what was listed brought up one more — in a saved request and in a packet capture
    msg = mm7.SubmitReq(vaspid="800001", vasid="1065888", recipients=["+8613800138000"],
                        content=mm7.Content(parts=[mm7.Part.text("hello")]))
    out = mm7.encode(msg, transaction_id="cap-1", version="REL-6-MM7-1-4")
    body = out.to_bytes().replace(b">6.8.0<", b">6.7.0<")  # (no MM7Version of REL-6-MM7-1-4's: refused when strict)
    namespace = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4"
    request = http("POST /mm7 HTTP/1.1", {"Host": "mmsc", "Content-Type": out.content_type,
                                          "SOAPAction": f'"{namespace}"', "Content-Length": str(len(body))}, body)
    saved = tmp_path / "request.http"
    saved.write_bytes(request)
    captured = tmp_path / "request.pcap"
    flow = Flow().open()
    flow.send(True, request, 700)
    captured.write_bytes(pcap(flow.close().packets))
    for path in (saved, captured):
        for lenient in ([], ["--lenient"]):
            proc = run("validate", "--json", *lenient, str(path))
            [result] = json.loads(proc.stdout)
            assert result["result"] == ("accepted" if lenient else "invalid"), result
            codes = [d["code"] for d in result["deviations"]]
            assert codes[0] == "soap-action" and "schema" in codes, (path.name, lenient, result)


def _short_exchanges(count: int, start: float, step: float = 0.01) -> list[Packet]:
    """`count` short keep-alive-less connections, a GET and its answer each, from as many clients
    (each with its own initial sequence numbers, as real ones are: not one connection's NAT twins)."""
    packets = []
    for n in range(count):
        flow = Flow(client=(f"10.1.{n // 250}.{n % 250 + 1}", 40000 + n), time=start + n * step, packets=[],
                    seq={"c": 1000 + 7919 * n, "s": 900000 + 104729 * n}).open()
        flow.send(True, http("GET /status HTTP/1.1", {"Host": "mmsc"}))
        flow.send(False, http("HTTP/1.1 200 OK", {"Content-Length": "2"}, b"ok"))
        packets += flow.close().packets
    return packets


def test_connections_read_kept_are_bounded_in_number_the_earliest_forgotten_first(monkeypatch):
    """Each connection read was kept for an hour of capture (to tell a late segment, or read on one
    idle): a busy MMSC link's capture, hundreds of thousands of short connections an hour, grew the
    memory without bound. At most KEPT_READ are kept, the earliest read let go first, said in the
    notes; one let go with a message kept back (idle in its middle) has it read as it is, not lost."""
    from mm7bind import pcap as reader

    kept: list[int] = []

    class Counted(reader._Connections):
        def finish(self, conn):
            yield from super().finish(conn)
            kept.append(len(self.done))

    monkeypatch.setattr(reader, "_Connections", Counted)
    request, _ = submit()
    stalled = Flow(client=("10.0.0.7", 45000)).open()
    stalled.send(True, request[:800], 700)  # (and nothing more: idle in the middle of its message)
    busy = _short_exchanges(300, stalled.time + 1000)  # (past IDLE: the stalled one read idle, its part kept back)
    stream = reader.CaptureStream(pcap(sorted(stalled.packets + busy, key=lambda p: p.time)), close_grace=0.5,
                                  kept_read=40)
    messages = list(stream)
    assert max(kept) == 40
    assert sum(m.start_line == "GET /status HTTP/1.1" for m in messages) == 300
    [cut] = [m for m in messages if m.start_line == "POST /mm7 HTTP/1.1"]
    assert cut.notes[0].startswith("its body is cut short in the capture"), cut.notes
    assert [n for n in stream.notes if "forgotten" in n] == [
        "210 connection(s) read were forgotten before 60 minutes of the capture passed (the first: connection 1), "
        "more than 40 being kept: a later segment of one, if any (a retransmission after its close, its next message "
        "after an idle time, a second capture of the same traffic joined after it), is read as a new connection's, "
        "and a connection captured twice may be read twice, its copy not recognized"], stream.notes


def test_a_busy_kept_alive_connection_has_its_whole_messages_read_as_it_goes(monkeypatch):
    """A kept-alive connection busy for hours, never idle for IDLE, held every byte it carried until
    it closed. Past BUSY_HELD (and twice what it kept back when read so last) it is read as one idle
    is: its whole messages read and let go, its last one not whole kept back. The methods of requests
    not answered yet go on to the next part (a HEAD's answer has no body), and its copy captured in
    its tunnel too is still read once."""
    from mm7bind import pcap as reader

    request, response = submit()
    head = http("HEAD /status HTTP/1.1", {"Host": "mmsc"})
    head_answer = http("HTTP/1.1 200 OK", {"Content-Length": "3000"})
    keep = Flow().open()
    keep.send(True, request, 1200)
    keep.send(False, response, 1200)
    keep.send(True, head)  # (the packet past BUSY_HELD: read with its answer still to come)
    keep.send(False, head_answer)
    for _ in range(12):
        keep.send(True, request, 1200)
        keep.send(False, response, 1200)
    plain = keep.close().packets
    whole = [(m.start_line, m.body, m.notes) for m in read_capture(pcap(plain)).messages]
    assert len(whole) == 28 and whole[3] == ("HTTP/1.1 200 OK", b"", [])
    busy_held = len(request) + len(response)
    held: list[int] = []

    class Counted(reader._Connections):
        def add(self, when, number, src, dst, seq, flags, payload, network=b"", uncaptured=0, gre_ends=b""):
            super().add(when, number, src, dst, seq, flags, payload, network, uncaptured, gre_ends)
            held.append(sum(conn.held for conn in self.current.values()))

    monkeypatch.setattr(reader, "_Connections", Counted)
    stream = reader.CaptureStream(pcap(plain), busy_held=busy_held)
    assert [(m.start_line, m.body, m.notes) for m in reader.in_capture_order(list(stream))] == whole, stream.notes
    assert stream.notes == []
    assert max(held) <= len(request) + len(response) + 1200 + 2 * len(request)  # (not the 12 exchanges' bytes)
    both = []
    for packet, wrapped in zip(plain, pcapgen.tunnelled(plain, pcapgen.vxlan)):
        both += [packet, Packet(packet.time + 0.00001, wrapped.ip)]
    stream = reader.CaptureStream(pcap(both, link="raw"), busy_held=busy_held)
    assert [(m.start_line, m.body, m.notes) for m in reader.in_capture_order(list(stream))] == whole, stream.notes
    assert len([n for n in stream.notes if "captured twice, inside and outside" in n]) == 1, stream.notes


def test_a_busy_tls_connection_read_in_parts_is_said_skipped_once():
    """A long TLS connection (a VASP's MM7 over HTTPS) read in parts, busy past BUSY_HELD each
    time, was said skipped once for each part, and each counted as a connection of its own."""
    from mm7bind import pcap as reader

    busy_held = 10_000
    record = b"\x17\x03\x03\x05\xdc" + bytes(1500)  # (TLS application data)
    flow = Flow(server=("10.0.0.2", 443)).open()
    flow.send(True, b"\x16\x03\x01\x00\x05" + bytes(5))
    for _ in range(40):
        flow.send(True, record, 1460)
        flow.send(False, record, 1460)
    stream = reader.CaptureStream(pcap(flow.close().packets), busy_held=busy_held)
    assert list(stream) == []
    assert stream.notes == ["connection 1 (10.0.0.1:40000 → 10.0.0.2:443): TLS, skipped (its HTTP can be read only in "
                            "a capture on the plain side of the TLS: behind the proxy ending it, or with the keys)"]


def test_a_connection_read_on_in_the_middle_of_a_messages_first_line_keeps_it_back():
    """A connection read before its next message's first line was whole (read busy, or idle, with
    "POS" of its "POST" line captured): those bytes, no message's start yet, were skipped as no
    HTTP, and the message whose start they were was lost. They are kept back, as a message whose
    headers are not whole yet is."""
    from mm7bind import pcap as reader

    request, response = submit()
    keep = Flow().open()
    keep.send(True, request, 1200)
    keep.send(False, response, 1200)
    keep.send(True, request[:3])  # (the packet past BUSY_HELD)
    keep.send(True, request[3:], 1200)
    keep.send(False, response, 1200)
    plain = keep.close().packets
    whole = [(m.start_line, m.body, m.notes) for m in read_capture(pcap(plain)).messages]
    assert len(whole) == 4
    busy_held = len(request) + len(response)
    stream = reader.CaptureStream(pcap(plain), busy_held=busy_held)
    assert [(m.start_line, m.body, m.notes) for m in reader.in_capture_order(list(stream))] == whole
    assert stream.notes == []


def test_a_content_length_short_of_the_body_sent_is_said_in_the_message_s_notes():
    """A Content-Length counting a body's characters, not its UTF-8 bytes (as some MMSCs and VASPs
    send it): the body is read as long as it says, as the other end reads it, and the bytes after
    it were said, among the capture's notes, to be no HTTP — the message's own notes said nothing of
    why its XML was cut. They say it now, the bytes skipped not said again."""
    body = "<x>你好世界</x>".encode()
    short = str(len(body.decode()))
    flow = Flow().open()
    flow.send(True, http("POST /mm7 HTTP/1.1", {"Host": "mmsc", "Content-Length": short}, body))
    flow.send(False, http("HTTP/1.1 200 OK", {"Content-Length": str(len(body))}, body))
    flow.send(True, http("POST /mm7 HTTP/1.1", {"Host": "mmsc", "Content-Length": str(len(body))}, body))
    flow.send(False, http("HTTP/1.1 200 OK", {"Content-Length": short}, body + b"\r\n"))
    capture = read_capture(pcap(flow.close().packets))
    assert [(m.start_line, m.body) for m in capture.messages] == [
        ("POST /mm7 HTTP/1.1", body[:11]), ("HTTP/1.1 200 OK", body), ("POST /mm7 HTTP/1.1", body),
        ("HTTP/1.1 200 OK", body[:11])]
    said = "its Content-Length (11) ends its body {} bytes before {}: shown as long as it says, as the other end " \
           "reads it, those bytes skipped (a length counting characters, not bytes, say)"
    assert [m.notes for m in capture.messages] == [
        [said.format(8, "the next message")], [], [], [said.format(10, "the end of what was captured")]]
    assert capture.notes == []


def test_a_busy_connection_captured_twice_is_read_once_its_upload_long_before_an_answer():
    """A busy connection is read in parts once both ends have sent: a first part of one end's bytes
    alone (a request whole past BUSY_HELD, no answer yet) could not be told as its twin's, and both
    copies of the request were read."""
    from mm7bind import pcap as reader

    request, response = submit()
    keep = Flow().open()
    for _ in range(3):
        keep.send(True, request, 1200)
        keep.send(False, response, 1200)
    plain = keep.close().packets
    whole = [(m.start_line, m.body, m.notes) for m in read_capture(pcap(plain)).messages]
    busy_held = len(request) - 1  # (past it with the first request whole)
    both = []
    for packet, wrapped in zip(plain, pcapgen.tunnelled(plain, pcapgen.vxlan)):
        both += [packet, Packet(packet.time + 0.00001, wrapped.ip)]
    stream = reader.CaptureStream(pcap(both, link="raw"), busy_held=busy_held)
    assert [(m.start_line, m.body, m.notes) for m in reader.in_capture_order(list(stream))] == whole, stream.notes
    assert len([n for n in stream.notes if "captured twice, inside and outside" in n]) == 1, stream.notes


def test_a_request_unanswered_past_idle_captured_twice_is_read_once():
    """A connection's first part read idle with one end's bytes alone (a request whose answer
    came after IDLE) had no twin check: both copies of the request were shown, and the copy,
    not told, had its answer shown twice too. A part of one end's bytes is checked as well."""
    request, response = submit()

    def slow(client=("10.0.0.1", 40000), later=0.0) -> list[Packet]:
        flow = Flow(client=client, time=Flow.time + later).open()
        flow.send(True, request, 1200)
        flow.time += 2000  # (past IDLE: read with the request alone)
        flow.send(False, response, 1200)
        return flow.close().packets

    plain = slow()
    expected = [(m.start_line, m.body) for m in read_capture(pcap(plain)).messages]
    assert len(expected) == 2
    # (other connections meanwhile, as a busy capture has them: the capture's time goes on past IDLE)
    others = [p for n in range(4) for p in Flow(client=("10.0.0.9", 50000 + n), time=plain[0].time + 500 * (n + 1),
                                               packets=[]).open().close().packets]
    tunnelled = [Packet(p.time + 0.00001, p.ip) for p in pcapgen.tunnelled(plain, pcapgen.vxlan)]
    translated = slow(("203.0.113.7", 61000), 0.00001)  # (a masqueraded client's, the same sequence numbers)
    for copy, said in ((tunnelled, "captured twice, inside and outside"), (translated, "address translation")):
        capture = read_capture(pcap(sorted(plain + copy + others, key=lambda p: p.time), link="raw"))
        assert [(m.start_line, m.body) for m in capture.messages] == expected, capture.notes
        assert len([n for n in capture.notes if said in n]) == 1, capture.notes


def test_a_connection_in_a_gre_tunnel_keyed_another_way_each_way_is_read_as_one():
    """A GRE tunnel's key is part of a connection's key: a tunnel with another key each way (Linux's
    ikey and okey) had each connection read as two halves, its requests and answers apart. The
    other end's first packet under another key is the other half of the one seen from one end
    alone; two tenants' connections with the same ends, each keyed its own way both ways, are not
    taken for one."""
    first = conversation(Flow(seq={"c": 1000, "s": 900000}))
    second = conversation(Flow(seq={"c": 5_000_000, "s": 70_000_000}, time=first.packets[0].time + 0.0005))
    expected = [(m.start_line, m.body) for m in read_capture(pcap(first.packets)).messages]
    client = ipaddress.ip_address("10.0.0.1").packed

    def keyed(packets, out: int, back: int) -> list[Packet]:  # (the client's packets under `out`, the rest `back`)
        return [Packet(p.time, pcapgen.gre(p.ip, key=out if p.ip[12:16] == client else back)) for p in packets]

    capture = read_capture(pcap(keyed(first.packets, 1, 2), link="raw"))
    assert [(m.connection, m.start_line, m.body) for m in capture.messages] == [(1, *m) for m in expected], \
        capture.notes
    assert [n for n in capture.notes if "connection" in n] == [], capture.notes
    both = sorted(keyed(first.packets, 1, 2) + keyed(second.packets, 3, 4), key=lambda p: p.time)
    capture = read_capture(pcap(both, link="raw"))
    assert [(m.connection, m.start_line, m.body) for m in capture.messages] == [
        (c, *m) for m in expected for c in (1, 2)], capture.notes
    assert [n for n in capture.notes if "connection" in n] == [], capture.notes



def test_halves_of_connections_in_two_gre_tunnels_with_the_same_inner_ends_are_not_paired():
    """A connection seen one way alone under one GRE key, and another's other way under another key
    with the same inner ends but in another tunnel (other routers' addresses), one way of each never
    captured, are two tenants' connections: paired only within one tunnel, as ikey and okey are."""
    first = conversation(Flow(seq={"c": 1000, "s": 900000}))
    second = conversation(Flow(seq={"c": 5_000_000, "s": 70_000_000}, time=first.packets[0].time + 0.0005))
    client = ipaddress.ip_address("10.0.0.1").packed

    def tunnelled(p: Packet, key: int, ends: tuple[str, str]) -> Packet:
        gre = pcapgen.gre(p.ip, key=key)
        return Packet(p.time, pcapgen.ipv4_packet(47, gre[20:], *(ends if p.ip[12:16] == client else ends[::-1])))

    # (the first's client's packets alone, in one tunnel; the second's server's alone, in another)
    packets = [tunnelled(p, 1, ("192.0.2.1", "192.0.2.2")) for p in first.packets if p.ip[12:16] == client]
    packets += [tunnelled(p, 2, ("198.51.100.1", "198.51.100.2")) for p in second.packets if p.ip[12:16] != client]
    capture = read_capture(pcap(sorted(packets, key=lambda p: p.time), link="raw"))
    assert sorted((m.connection, m.is_request) for m in capture.messages) == [(1, True), (2, False)], capture.notes

def test_tcp_under_an_ipsec_authentication_header_is_read():
    """IPsec's Authentication Header (AH, RFC 4302: transport mode, the data signed, not
    encrypted) before the TCP header was taken for another protocol: an IPv4 or IPv6 connection
    with it was read as nothing at all, nothing said. It is read past, as IPv6's other extension
    headers are (in IPv4 too)."""

    def authenticated(packet: Packet) -> Packet:  # (AH: next header, length, SPI, sequence, a 12-byte ICV)
        ip = packet.ip
        header = 20 if ip[0] >> 4 == 4 else 40
        ah = bytes([6, 4, 0, 0]) + struct.pack("!II", 0x100, 1) + bytes(12)
        if header == 20:
            head = ip[:2] + struct.pack("!H", len(ip) + len(ah)) + ip[4:9] + bytes([51]) + ip[10:20]
        else:
            head = ip[:4] + struct.pack("!HB", len(ip) - 40 + len(ah), 51) + ip[7:40]
        return Packet(packet.time, head + ah + ip[header:])

    for flow in (Flow(), Flow(client=("2001:db8::1", 40000), server=("2001:db8::2", 80))):
        plain = conversation(flow).packets
        expected = [(m.start_line, m.body) for m in read_capture(pcap(plain)).messages]
        capture = read_capture(pcap([authenticated(p) for p in plain]))
        assert [(m.start_line, m.body) for m in capture.messages] == expected, capture.notes
        assert capture.notes == []


def test_a_fast_open_syn_sent_again_is_no_new_connection():
    """A TCP Fast Open client's SYN carries its request; unanswered, the SYN is sent again (without
    the data, as Linux does). That SYN, on a connection with data, was taken for a new connection on
    the same ports: the request was shown twice, the first copy without its answer."""
    request, response = submit()
    flow = Flow()
    flow.add(True, pcapgen.SYN, request[:1000])
    flow.add(True, pcapgen.SYN)  # (the same sequence number: the SYN sent again)
    flow.add(False, pcapgen.SYN | ACK)
    flow.seq["c"] += 1 + 1000
    flow.seq["s"] += 1
    flow.send(True, request[1000:], 1000)
    flow.send(False, response)
    capture = read_capture(pcap(flow.close().packets))
    assert [(m.connection, m.start_line) for m in capture.messages] == [(1, "POST /mm7 HTTP/1.1"),
                                                                      (1, "HTTP/1.1 200 OK")], capture.notes
    assert capture.messages[0].body == request[request.index(b"\r\n\r\n") + 4 :]
