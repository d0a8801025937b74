"""Packet captures written for the tests: TCP conversations as tcpdump and Wireshark save them
(pcap, pcapng), with the links, byte orders and time resolutions real captures come in."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from ipaddress import ip_address

SYN, ACK, FIN, PSH, RST = 0x02, 0x10, 0x01, 0x08, 0x04


@dataclass
class Packet:
    time: float  # seconds since the epoch
    ip: bytes  # the IP packet (header, TCP header, payload)


@dataclass
class Flow:
    """One TCP connection between a client and a server, its packets in the order they are made."""

    client: tuple[str, int] = ("10.0.0.1", 40000)
    server: tuple[str, int] = ("10.0.0.2", 8080)
    time: float = 1764000000.0
    seq: dict = field(default_factory=lambda: {"c": 1000, "s": 900000})
    packets: list[Packet] = field(default_factory=list)

    def _ip(self, from_client: bool, flags: int, seq: int, payload: bytes) -> bytes:
        (src, sport), (dst, dport) = (self.client, self.server) if from_client else (self.server, self.client)
        tcp = struct.pack("!HHIIHHHH", sport, dport, seq & 0xFFFFFFFF, 0, (5 << 12) | flags, 65535, 0, 0) + payload
        a, b = ip_address(src), ip_address(dst)
        # Longer than an IP length can say: a super-segment as Linux's BIG TCP hands them to
        # tcpdump (IPv4: total length 0; IPv6: payload length 0, a hop-by-hop jumbo option)
        if a.version == 4:
            total = 20 + len(tcp) if 20 + len(tcp) <= 65535 else 0
            return struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 1, 0x4000, 64, 6, 0, a.packed, b.packed) + tcp
        if len(tcp) <= 65535:
            return struct.pack("!IHBB16s16s", 6 << 28, len(tcp), 6, 64, a.packed, b.packed) + tcp
        jumbo = struct.pack("!BBBBI", 6, 0, 0xC2, 4, 8 + len(tcp))
        return struct.pack("!IHBB16s16s", 6 << 28, 0, 0, 64, a.packed, b.packed) + jumbo + tcp

    def add(self, from_client: bool, flags: int, payload: bytes = b"", seq: int | None = None) -> Packet:
        side = "c" if from_client else "s"
        self.time += 0.001
        packet = Packet(self.time, self._ip(from_client, flags, self.seq[side] if seq is None else seq, payload))
        self.packets.append(packet)
        return packet

    def open(self) -> Flow:
        self.add(True, SYN)
        self.add(False, SYN | ACK)
        self.seq["c"] += 1
        self.seq["s"] += 1
        self.add(True, ACK)
        return self

    def send(self, from_client: bool, data: bytes, mss: int = 1400) -> list[Packet]:
        """`data` in segments of `mss` bytes, in order."""
        side = "c" if from_client else "s"
        sent = []
        for i in range(0, len(data), mss):
            sent.append(self.add(from_client, ACK | PSH, data[i : i + mss]))
            self.seq[side] += len(data[i : i + mss])
        return sent

    def close(self) -> Flow:
        self.add(True, FIN | ACK)
        self.add(False, FIN | ACK)
        return self


def extension(kind: int, following: int, length: int = 8) -> bytes:
    """An IPv6 extension header (hop-by-hop or destination options: padding; routing: a type
    with no segments left, which a host passes over) of `length` bytes, a multiple of 8."""
    if kind == 43:
        return bytes([following, length // 8 - 1, 253, 0]) + bytes(length - 4)
    return bytes([following, length // 8 - 1, 1, length - 4]) + bytes(length - 4)


def fragments(packet: Packet, size: int, ident: int = 0x1234, before: tuple[int, ...] = (),
              after: tuple[int, ...] = ()) -> list[Packet]:
    """The IP packet in fragments carrying `size` bytes of its payload each (a multiple of 8), as a
    host sends it over a path with a smaller MTU, in order. IPv6: extension headers of the kinds
    `before` are in every fragment (the unfragmentable part), those of `after` in the payload cut."""
    ip = packet.ip
    if ip[0] >> 4 == 4:
        header, payload = ip[:20], ip[20 : struct.unpack_from("!H", ip, 2)[0] or len(ip)]
        out = []
        for at in range(0, len(payload), size):
            piece = payload[at : at + size]
            more = 0x2000 if at + size < len(payload) else 0
            out.append(Packet(packet.time, header[:2] + struct.pack("!HHH", 20 + len(piece), ident, more | at // 8)
                              + header[8:] + piece))
        return out
    kinds = (*before, 44, *after, ip[6])  # (its own payload's protocol: TCP, a tunnel's)
    unfragmentable = b"".join(extension(kind, kinds[i + 1]) for i, kind in enumerate(before))
    payload = b"".join(extension(kind, kinds[len(before) + 2 + i]) for i, kind in enumerate(after)) + ip[40:]
    out = []
    for at in range(0, len(payload), size):
        piece = payload[at : at + size]
        more = 1 if at + size < len(payload) else 0
        head = struct.pack("!BBHI", after[0] if after else ip[6], 0, at | more, ident)
        rest = unfragmentable + head + piece
        out.append(Packet(packet.time, ip[:4] + struct.pack("!HB", len(rest), kinds[0]) + ip[7:40] + rest))
    return out


def ipv4_fragment(ident: int, offset: int, more: bool, data: bytes, src: str = "10.9.0.1",
                  dst: str = "10.0.0.2") -> bytes:
    """One IPv4 fragment of a TCP packet, made up (offset in bytes)."""
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(data), ident, (0x2000 if more else 0) | offset // 8, 64, 6,
                       0, ip_address(src).packed, ip_address(dst).packed) + data


def ipv6_packet(next_header: int, payload: bytes, src: str = "2001:db8::9", dst: str = "2001:db8::2") -> bytes:
    """An IPv6 packet whose payload (extension headers, then TCP or not) is made up."""
    length = len(payload) if len(payload) <= 65535 else 0
    return struct.pack("!IHBB16s16s", 6 << 28, length, next_header, 64, ip_address(src).packed,
                       ip_address(dst).packed) + payload


def http(start_line: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    head = start_line + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode("latin-1") + body


# -- links ----------------------------------------------------------------------------------------


def ethernet(ip: bytes, vlan: int | None = None) -> bytes:
    kind = b"\x08\x00" if ip[0] >> 4 == 4 else b"\x86\xdd"
    tag = b"\x81\x00" + struct.pack("!H", vlan) if vlan is not None else b""
    return b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + tag + kind + ip


def sll(ip: bytes, vlan: int | None = None) -> bytes:
    """Linux cooked; `vlan`: a tag as libpcap puts it back (type 0x8100, the tag, the real type)."""
    kind = b"\x08\x00" if ip[0] >> 4 == 4 else b"\x86\xdd"
    tag = b"\x81\x00" + struct.pack("!H", vlan) if vlan is not None else b""
    return struct.pack("!HHH", 0, 1, 6) + b"\x02\x00\x00\x00\x00\x01\x00\x00" + tag + kind + ip


def sll2(ip: bytes, vlan: int | None = None) -> bytes:
    """Linux cooked v2; `vlan`: its type 0x8100, and the tag and the real type after the header."""
    kind = b"\x08\x00" if ip[0] >> 4 == 4 else b"\x86\xdd"
    tag = struct.pack("!H", vlan) + kind if vlan is not None else b""
    return ((b"\x81\x00" if tag else kind) + b"\x00\x00" + struct.pack("!IHBB", 1, 1, 0, 6)
            + b"\x02\x00\x00\x00\x00\x01\x00\x00" + tag + ip)


def null(ip: bytes) -> bytes:
    return struct.pack("<I", 2 if ip[0] >> 4 == 4 else 30) + ip


def loop(ip: bytes) -> bytes:
    """OpenBSD's loopback: the address family in network byte order (24: its IPv6)."""
    return struct.pack(">I", 2 if ip[0] >> 4 == 4 else 24) + ip


def qinq(ip: bytes) -> bytes:
    """Ethernet with two VLAN tags (802.1ad's outer one, 802.1Q's inner one)."""
    kind = b"\x08\x00" if ip[0] >> 4 == 4 else b"\x86\xdd"
    return b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x88\xa8\x00\x05\x81\x00\x00\x2a" + kind + ip


def snap(ip: bytes) -> bytes:
    """An 802.3 frame: its length where Ethernet II has the type, an LLC header and SNAP's (the
    type after a zero OUI), as some routers and older stacks send IP."""
    kind = b"\x08\x00" if ip[0] >> 4 == 4 else b"\x86\xdd"
    return (b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + struct.pack("!H", min(8 + len(ip), 1500))
            + b"\xaa\xaa\x03\x00\x00\x00" + kind + ip)


def cisco_hdlc(ip: bytes) -> bytes:
    """Cisco HDLC: its address (unicast), control, and the protocol's EtherType."""
    return b"\x0f\x00" + (b"\x08\x00" if ip[0] >> 4 == 4 else b"\x86\xdd") + ip


LINKS = {"ethernet": (1, ethernet), "snap": (1, snap), "ppp": (9, lambda ip: ppp(ip)), "ppp_hdlc": (50, lambda ip: ppp(ip)),
         "ppp_hdlc+cisco": (50, cisco_hdlc), "c_hdlc": (104, cisco_hdlc), "ppp+compressed": (9, lambda ip: ppp(ip, True)), "raw": (101, lambda ip: ip), "sll": (113, sll), "sll2": (276, sll2),
         "null": (0, null), "loop": (108, loop), "qinq": (1, qinq), "sll+vlan": (113, lambda ip: sll(ip, 42)),
         "sll2+vlan": (276, lambda ip: sll2(ip, 42)), "vlan10": (1, lambda ip: ethernet(ip, 10)),
         "vlan20": (1, lambda ip: ethernet(ip, 20)), "sll+vlan10": (113, lambda ip: sll(ip, 10))}


# -- files ----------------------------------------------------------------------------------------


def pcap(packets: list[Packet], link: str = "ethernet", order: str = "<", nano: bool = False,
         snaplen: int = 262144, modified: bool = False, variant: str | None = None) -> bytes:
    """`modified`: the patched libpcap's format, each record with ifindex, protocol, packet type
    and a pad byte after its header. `variant`: another patched libpcap's records — "ss990915"
    (SuSE 6.3: the modified magic, and two CPU numbers and 3 pad bytes more), "ss990417" (Red Hat
    6.1: the modified records under the usual magic), "nokia" (the usual magic, 4 bytes more)."""
    number, wrap = LINKS[link]
    extra = {None: b"", "ss990915": b"\x01\x00\x00\x00", "ss990417": b"", "nokia": b""}[variant]
    modified = modified or variant in ("ss990915", "ss990417")
    magic = 0xA1B2CD34 if modified and variant != "ss990417" else 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, number)]
    for p in packets:
        frame = wrap(p.ip)
        sec = int(p.time)
        frac = round((p.time - sec) * (1e9 if nano else 1e6))
        kept = frame[:snaplen]
        out.append(struct.pack(order + "IIII", sec, frac, len(kept), len(frame))
                   + (struct.pack(order + "iHBx", 2, 0x0800, 4) + extra if modified else b"")
                   + (b"\x00\x01\x02\x03" if variant == "nokia" else b"") + kept)
    return b"".join(out)


def _block(order: str, kind: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    return struct.pack(order + "II", kind, len(body) + 12) + body + struct.pack(order + "I", len(body) + 12)


def pcapng(sections: list[list[tuple]], order: str = "<") -> bytes:
    """Sections, each a list of interfaces: (link, time resolution as if_tsresol's byte, packets),
    and optionally an if_tsoffset (seconds its times are counted from)."""
    out = []
    for interfaces in sections:
        out.append(_block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1)))
        for link, tsresol, _, *tsoffset in interfaces:
            options = struct.pack(order + "HHB", 9, 1, tsresol) + b"\x00" * 3
            if tsoffset:
                options += struct.pack(order + "HHq", 14, 8, tsoffset[0])
            options += struct.pack(order + "HH", 0, 0)
            out.append(_block(order, 1, struct.pack(order + "HHI", LINKS[link][0], 0, 0) + options))
        packets = sorted(((p, n) for n, (_, _, ps, *_) in enumerate(interfaces) for p in ps), key=lambda x: x[0].time)
        for p, n in packets:
            link, tsresol, _, *tsoffset = interfaces[n]
            frame = LINKS[link][1](p.ip)
            unit = 2.0 ** -(tsresol & 0x7F) if tsresol & 0x80 else 10.0 ** -tsresol
            ticks = round((p.time - (tsoffset[0] if tsoffset else 0)) / unit)
            out.append(_block(order, 6, struct.pack(order + "IIIII", n, ticks >> 32, ticks & 0xFFFFFFFF,
                                                    len(frame), len(frame)) + frame))
    return b"".join(out)


def pcapng_simple(packets: list[Packet], link: str = "ethernet", order: str = "<", snaplen: int = 0,
                  stray: list[Packet] = ()) -> bytes:
    """One section of Simple Packet Blocks (no times) on one interface; the `stray` ones come
    before its description, as a broken writer puts them."""
    number, wrap = LINKS[link]
    out = [_block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))]
    out += [_block(order, 3, struct.pack(order + "I", len(wrap(p.ip))) + wrap(p.ip)) for p in stray]
    out.append(_block(order, 1, struct.pack(order + "HHI", number, 0, snaplen)))
    out += [_block(order, 3, struct.pack(order + "I", len(wrap(p.ip))) + wrap(p.ip)) for p in packets]
    return b"".join(out)


# -- tunnels: an IP packet as an overlay network or a VPN carries it --------------------------------


def ipv4_packet(protocol: int, payload: bytes, src: str = "192.0.2.1", dst: str = "192.0.2.2", ident: int = 7) -> bytes:
    """An IPv4 packet (an underlay's: a tunnel's outer one) of `protocol` carrying `payload`."""
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0, 64, protocol, 0,
                       ip_address(src).packed, ip_address(dst).packed) + payload


def outer_ip(payload: bytes, protocol: int, version: int = 4) -> bytes:
    return ipv4_packet(protocol, payload) if version == 4 else ipv6_packet(protocol, payload, "2001:db8:f::1",
                                                                           "2001:db8:f::2")


def udp(port: int, payload: bytes, source_port: int = 49152) -> bytes:
    return struct.pack("!HHHH", source_port, port, 8 + len(payload), 0) + payload


def vxlan(ip: bytes, port: int = 4789, vni: int = 42, version: int = 4, vlan: int | None = None) -> bytes:
    """`ip` in an Ethernet frame (tagged with `vlan`) in VXLAN (RFC 7348: its I flag, its network
    identifier)."""
    return outer_ip(udp(port, struct.pack("!II", 0x08000000, vni << 8) + ethernet(ip, vlan)), 17, version)


def geneve(ip: bytes, options: bytes = b"", bridged: bool = True, version: int = 4, vlan: int | None = None) -> bytes:
    """`ip` in Geneve (RFC 8926), with `options` (a multiple of 4 bytes) and in an Ethernet frame
    (`bridged`, as OVN sends it) or as it is (its EtherType the protocol type)."""
    kind = 0x6558 if bridged else 0x0800 if ip[0] >> 4 == 4 else 0x86DD
    header = struct.pack("!BBHI", len(options) // 4, 0, kind, 7 << 8) + options
    return outer_ip(udp(6081, header + (ethernet(ip, vlan) if bridged else ip)), 17, version)


def gre(ip: bytes, checksum: bool = False, key: int | None = None, sequence: int | None = None,
        bridged: bool = False, version: int = 4, vlan: int | None = None) -> bytes:
    """`ip` in GRE (RFC 2784, 2890): its optional fields as asked, as it is or in an Ethernet frame
    (`bridged`: transparent Ethernet bridging, as gretap sends it)."""
    flags = (0x8000 if checksum else 0) | (0x2000 if key is not None else 0) | (0x1000 if sequence is not None else 0)
    kind = 0x6558 if bridged else 0x0800 if ip[0] >> 4 == 4 else 0x86DD
    fields = ((b"\x00\x00\x00\x00" if checksum else b"") + (struct.pack("!I", key) if key is not None else b"")
              + (struct.pack("!I", sequence) if sequence is not None else b""))
    return outer_ip(struct.pack("!HH", flags, kind) + fields + (ethernet(ip, vlan) if bridged else ip), 47, version)


def erspan(ip: bytes, kind: int = 2, vlan: int | None = None, header_vlan: int = 5, encapsulation: int = 0) -> bytes:
    """`ip` in an Ethernet frame a switch mirrored with ERSPAN type I, II or III (over GRE), tagged
    with `vlan` (a trunk's frame); a type II header's VLAN and encapsulation type (0: the frame was
    untagged, 2: 802.1Q, its tag taken off into the header, 3: the tag kept in the frame)."""
    frame = ethernet(ip, vlan)
    if kind == 1:
        return outer_ip(struct.pack("!HH", 0, 0x88BE) + frame, 47)
    if kind == 2:  # (version 1, the VLAN; session 1, the encapsulation type; index)
        header = struct.pack("!HHI", 0x1000 | header_vlan, encapsulation << 11 | 0x0001, 0)
        return outer_ip(struct.pack("!HHI", 0x1000, 0x88BE, 9) + header + frame, 47)
    # (version 2 and the VLAN; its O flag: a subheader)
    header = struct.pack("!HHIHH", 0x2000 | header_vlan, 1, 0, 0, 0x0001) + bytes(8)
    return outer_ip(struct.pack("!HHI", 0x1000, 0x22EB, 9) + header + frame, 47)


def ip_in_ip(ip: bytes, version: int = 4) -> bytes:
    """`ip` in an IP packet of `version` (RFC 2003's IP in IP, or 6in4, 4in6, 6in6)."""
    return outer_ip(ip, 4 if ip[0] >> 4 == 4 else 41, version)


def tunnelled(packets: list[Packet], wrap) -> list[Packet]:
    """Each of `packets` as a tunnel carries it: `wrap` of its IP packet."""
    return [Packet(p.time, wrap(p.ip)) for p in packets]


# -- carriers' encapsulations: MPLS, PPP ------------------------------------------------------------


def labels(payload: bytes, stack: tuple[int, ...] = (16, 1001)) -> bytes:
    """`payload` under an MPLS label stack (RFC 3032: the last label its bottom)."""
    return b"".join(struct.pack("!I", label << 12 | (0x100 if i == len(stack) - 1 else 0) | 64)
                    for i, label in enumerate(stack)) + payload


def mpls_ethernet(ip: bytes, stack: tuple[int, ...] = (16, 1001), pseudowire: bool = False) -> bytes:
    """An Ethernet frame of MPLS (a provider's core link): `ip` under its labels, or in an Ethernet
    pseudowire's frame (RFC 4448) after its control word."""
    payload = b"\x00\x00\x00\x07" + ethernet(ip) if pseudowire else ip
    return b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x88\x47" + labels(payload, stack)


def ppp(ip: bytes, compressed: bool = False) -> bytes:
    """`ip` in a PPP frame: its address, control and 2-byte protocol fields, or neither and 1 byte
    (`compressed`, as a link agreeing to ACFC and PFC sends it)."""
    protocol = 0x21 if ip[0] >> 4 == 4 else 0x57
    return (bytes([protocol]) if compressed else b"\xff\x03" + struct.pack("!H", protocol)) + ip


def pppoe(ip: bytes) -> bytes:
    """An Ethernet frame of a PPPoE session (RFC 2516: no address and control fields)."""
    frame = ppp(ip)[2:]
    return (b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x88\x64"
            + struct.pack("!BBHH", 0x11, 0, 0x2A, len(frame)) + frame)


def pptp(ip: bytes, sequence: int | None = 1, ack: int | None = None, compressed: bool = False) -> bytes:
    """`ip` in PPTP's GRE (version 1, RFC 2637): its key the PPP frame's length and the call's ID."""
    frame = ppp(ip, compressed)
    flags = 0x2001 | (0x1000 if sequence is not None else 0) | (0x0080 if ack is not None else 0)
    fields = (struct.pack("!I", sequence) if sequence is not None else b"") + (struct.pack("!I", ack) if ack is not None
                                                                               else b"")
    return outer_ip(struct.pack("!HHHH", flags, 0x880B, len(frame), 7) + fields + frame, 47)


LINKS.update({"mpls": (1, mpls_ethernet), "mpls+pseudowire": (1, lambda ip: mpls_ethernet(ip, pseudowire=True)),
              "pppoe": (1, pppoe)})


def pbb(ip: bytes) -> bytes:
    """An Ethernet frame of 802.1ah provider backbone bridging (MAC in MAC): the backbone's
    addresses and B-tag, its I-tag (service 0x1234), and the customer's frame."""
    return (b"\x02\x00\x00\x00\x00\x0b" + b"\x02\x00\x00\x00\x00\x0a" + b"\x88\xa8\x00\x07" + b"\x88\xe7"
            + struct.pack("!I", 0x1234) + ethernet(ip))


def macsec(ip: bytes, sci: bool = True) -> bytes:
    """An Ethernet frame under 802.1AE MACsec integrity alone (its data not encrypted): the
    SecTAG (its SCI where `sci`), the data's EtherType and the data, the ICV."""
    kind = b"\x08\x00" if ip[0] >> 4 == 4 else b"\x86\xdd"
    tag = bytes([0x20 if sci else 0, 0]) + struct.pack("!I", 1) + (bytes(range(8)) if sci else b"")
    return b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x88\xe5" + tag + kind + ip + bytes(16)


LINKS.update({"pbb": (1, pbb), "macsec": (1, macsec), "macsec-no-sci": (1, lambda ip: macsec(ip, sci=False))})
