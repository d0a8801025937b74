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
    """RFC 7616 Digest with MD5 (what MMSCs and China Mobile's SDK speak), qop=auth."""

    username: str
    password: str
    realm: str = "mm7"
    nonce_lifetime: float = 300.0
    key: bytes = field(default_factory=lambda: os.urandom(32))

    def _nonce(self, ts: int | None = None) -> str:
        ts = int(time.time()) if ts is None else ts
        mac = hmac.new(self.key, str(ts).encode(), hashlib.sha256).hexdigest()[:32]
        return base64.b64encode(f"{ts}:{mac}".encode()).decode()

    def _nonce_state(self, nonce: str) -> str:
        try:
            ts_text, _, mac = base64.b64decode(nonce).decode().partition(":")
            ts = int(ts_text)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return "bad"
        if not hmac.compare_digest(self._nonce(ts), nonce):
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
        return hmac.compare_digest(expected, p.get("response", "")), False


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
        return any(ip in net for net in self.networks)
