"""Server-side HTTP authentication for the receiver and the simulator: Basic, Digest, IP allow-list.

Digest nonces are stateless (a timestamp signed with a per-process key), so several threads or a
restarted server need no shared nonce table; a stale nonce is answered with `stale=true`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import os
import re
import threading
import time
from dataclasses import dataclass, field


def _parse_auth_params(value: str) -> dict[str, str]:
    return {k.lower(): v1 if v1 else v2 for k, v1, v2 in re.findall(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))', value)}


@dataclass
class BasicAuth:
    username: str
    password: str
    realm: str = "mm7"

    def challenge(self, stale: bool = False) -> str:
        return f'Basic realm="{self.realm}"'

    def check(self, method: str, uri: str, header: str | None) -> tuple[bool, bool]:
        """(accepted, stale)."""
        if not header or not header[:6].lower() == "basic ":
            return False, False
        try:
            user, _, pwd = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8").partition(":")
        except ValueError:  # not base64 (binascii.Error), not ASCII, not UTF-8 inside
            return False, False
        ok = hmac.compare_digest(user.encode(), self.username.encode()) & hmac.compare_digest(pwd.encode(), self.password.encode())
        return ok, False


@dataclass
class DigestAuth:
    """RFC 7616 Digest with MD5 (what MMSCs and China Mobile's SDK speak), qop=auth.

    A header seen once is not taken again (per process): with qop, each nonce's count (nc) must
    grow; without qop (RFC 2069 clients), a nonce serves one request. A repeat gets a stale
    challenge, so an honest client simply answers it with a fresh nonce, while a header captured
    on the way cannot be used to send other messages."""

    username: str
    password: str
    realm: str = "mm7"
    nonce_lifetime: float = 300.0
    key: bytes = field(default_factory=lambda: os.urandom(32))
    _seen: dict = field(default_factory=dict, repr=False, compare=False)  # nonce → (its time, highest nc)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def _fresh(self, nonce: str, nc: str | None) -> bool:
        """Whether this use of `nonce` is new: its count above any seen, or (no qop) its first use."""
        try:
            count = int(nc, 16) if nc is not None else 0
        except ValueError:
            return False
        now = time.time()
        with self._lock:
            if len(self._seen) > 10_000:  # forget nonces past their lifetime (they are refused anyway)
                for old in [k for k, (t, _) in self._seen.items() if now - t > self.nonce_lifetime]:
                    del self._seen[old]
            _, last = self._seen.get(nonce, (now, -1))
            if count <= last:
                return False
            self._seen[nonce] = (now, count)
            return True

    def _nonce(self, ts: int | None = None, salt: str | None = None) -> str:
        """Its time, a random salt (each challenge its own nonce, so that two clients challenged in
        the same second do not share one and its counts), and our MAC over both."""
        ts = int(time.time()) if ts is None else ts
        salt = os.urandom(6).hex() if salt is None else salt
        mac = hmac.new(self.key, f"{ts}:{salt}".encode(), hashlib.sha256).hexdigest()[:32]
        return base64.b64encode(f"{ts}:{salt}:{mac}".encode()).decode()

    def _nonce_state(self, nonce: str) -> str:
        try:
            ts_text, salt, _mac = base64.b64decode(nonce).decode().split(":")
            ts = int(ts_text)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return "bad"
        if not hmac.compare_digest(self._nonce(ts, salt), nonce):
            return "bad"
        return "stale" if time.time() - ts > self.nonce_lifetime else "ok"

    def challenge(self, stale: bool = False) -> str:
        extra = ", stale=true" if stale else ""
        return f'Digest realm="{self.realm}", qop="auth", algorithm=MD5, nonce="{self._nonce()}"{extra}'

    def check(self, method: str, uri: str, header: str | None) -> tuple[bool, bool]:
        if not header or not header[:7].lower() == "digest ":
            return False, False
        p = _parse_auth_params(header[7:])
        if p.get("username") != self.username or p.get("realm") != self.realm:
            return False, False
        state = self._nonce_state(p.get("nonce", ""))
        if state != "ok":
            return False, state == "stale"
        if p.get("algorithm", "MD5").upper() != "MD5":
            return False, False
        ha1 = hashlib.md5(f"{self.username}:{self.realm}:{self.password}".encode()).hexdigest()
        ha2 = hashlib.md5(f"{method}:{p.get('uri', '')}".encode()).hexdigest()
        if p.get("qop") == "auth":
            expected = hashlib.md5(f"{ha1}:{p['nonce']}:{p.get('nc', '')}:{p.get('cnonce', '')}:auth:{ha2}".encode()).hexdigest()
        elif "qop" not in p:
            expected = hashlib.md5(f"{ha1}:{p['nonce']}:{ha2}".encode()).hexdigest()
        else:
            return False, False
        # The uri in the header must be the request's (path and query), or the digest is not for it.
        if p.get("uri") not in (uri, uri.split("?", 1)[0]):
            return False, False
        if not hmac.compare_digest(expected, p.get("response", "")):
            return False, False
        if not self._fresh(p["nonce"], p.get("nc") if "qop" in p else None):
            return False, True  # a repeat: an honest client answers the stale challenge at once
        return True, False


@dataclass
class IPAllowList:
    networks: tuple

    @classmethod
    def parse(cls, items) -> IPAllowList:
        return cls(tuple(ipaddress.ip_network(i, strict=False) for i in items))

    def allows(self, address: str | None) -> bool:
        if not self.networks:
            return True
        try:
            ip = ipaddress.ip_address((address or "").split("%", 1)[0])
        except ValueError:
            return False
        # On a dual-stack socket an IPv4 peer shows as ::ffff:a.b.c.d: the list's IPv4 networks hold it.
        mapped = getattr(ip, "ipv4_mapped", None)
        return any(ip in net or (mapped is not None and mapped in net) for net in self.networks)
