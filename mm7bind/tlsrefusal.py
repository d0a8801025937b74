"""Whether the MMSC refused our TLS client certificate, and what to change then.

In TLS 1.3 the client's handshake is over before the server has checked the client's certificate:
the client writes its request at once, and the server's refusal (a fatal alert) comes after it. A
server that refused the certificate never passed the request on: nothing was taken. But the alert
is often lost: the server closes the connection on the request it did not read, and the reset that
this sends overtakes the alert, so the client sees only "connection reset" (httpx nearly always,
requests now and then), which alone would say "the request went out and no answer came: it may
have arrived".

So when a request over TLS ends with the connection lost and no answer, `refused_certificate`
asks the server again without sending anything: a new connection, its handshake, and a wait for the
server's verdict on our certificate. With nothing unread for it to reset on, a refusing server's
alert arrives whole; an accepting one says so by its session tickets (or by silence until the
connect timeout). Nothing is sent, so asking cannot deliver anything twice.
"""

from __future__ import annotations

import re
import select
import socket
import ssl
import time
from urllib.parse import urlsplit

# The alerts a server refuses a client's certificate with (OpenSSL's reason names: TLSV13_ALERT_
# CERTIFICATE_REQUIRED, SSLV3_ALERT_BAD_CERTIFICATE, TLSV1_ALERT_UNKNOWN_CA, ...). Our own check of
# the server's certificate fails as CERTIFICATE_VERIFY_FAILED, which names no alert.
_CERTIFICATE_ALERT = re.compile(r"\b[A-Z0-9]+_ALERT_(?:CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNSUPPORTED_CERTIFICATE|"
                                r"CERTIFICATE_REVOKED|CERTIFICATE_EXPIRED|CERTIFICATE_UNKNOWN|UNKNOWN_CA|"
                                r"ACCESS_DENIED)\b")
# Our check of the server's certificate failing for want of its CA (OpenSSL's texts), or its name.
_UNTRUSTED_SERVER = re.compile(r"CERTIFICATE_VERIFY_FAILED.*(issuer certificate|self[- ]signed certificate|"
                               r"unable to verify the first certificate)")
_OTHER_NAME = re.compile(r"CERTIFICATE_VERIFY_FAILED.*(Hostname|IP address) mismatch")


class CertificateRefused(ConnectionError):
    """The server refused our TLS client certificate (`alert`), as asking it again showed."""

    def __init__(self, alert: str):
        super().__init__(f"[SSL: {alert}] the server refused the TLS client certificate")
        self.alert = alert


def chain(exc: BaseException | None):
    """`exc` and what it wraps: causes, contexts, and the exceptions requests and urllib3 keep in
    their arguments (a MaxRetryError's `reason`)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo.extend(a for a in (e.__cause__, e.__context__, getattr(e, "reason", None), *e.args)
                    if isinstance(a, BaseException))  # (an SSLError's reason is a name, not an exception)


def certificate_alert(exc: BaseException) -> str | None:
    """The alert (e.g. TLSV13_ALERT_CERTIFICATE_REQUIRED) by which the server refused our client
    certificate, if `exc` is, or wraps, such a refusal."""
    for e in chain(exc):
        found = _CERTIFICATE_ALERT.search(str(e))
        if found:
            return found.group(0)
    return None


def _says(pattern: re.Pattern, exc: BaseException) -> bool:
    return any(pattern.search(str(e)) for e in chain(exc))


def hint(exc: BaseException, cert_given: bool, peer: str = "the MMSC", names: dict[str, str] | None = None) -> str:
    """What to change for a TLS failure `exc`: the client certificate, or the CA; "" for others.
    `names`: the settings as the program that hit it spells them ({"cert": "vasp_cert (simulate
    --vasp-cert)", "verify": ...}); by default the client's, with the configuration file's for a
    VASP's client, whose peer is the MMSC."""
    named = peer == "the MMSC"
    alert = certificate_alert(exc)
    if alert is not None:
        if not cert_given:
            cert = names["cert"] if names else "cert" + (" ([mmsc] client_cert, client_key)" if named else "")
            return f"{peer} refused the connection for want of a TLS client certificate ({alert}): set {cert} " \
                   "to the certificate and key it has on file for you"
        cert = names["cert"] if names else "cert" + (" ([mmsc] client_cert)" if named else "")
        return f"{peer} refused the TLS client certificate ({alert}): check {cert} " \
               "— the one it has on file, issued by a CA it trusts, not expired"
    if _says(_UNTRUSTED_SERVER, exc):
        verify = names["verify"] if names else "verify" + (" ([mmsc] ca_file)" if named else "")
        return f"{peer}'s certificate is not signed by a CA this client trusts: set {verify} " \
               "to the CA certificate(s) that signed it, PEM"
    if _says(_OTHER_NAME, exc):
        return f"{peer}'s certificate is for another name: use that name in the URL"
    return ""


def refused_certificate(url: str, context: ssl.SSLContext, timeout: float) -> str | None:
    """Ask the server of `url` (https) whether it refuses the client certificate `context` presents
    (or its absence), sending nothing: the refusing alert's name, or None when it accepted it,
    said nothing within `timeout`, or could not be asked."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return None
    deadline = time.monotonic() + timeout
    try:
        raw = socket.create_connection((parts.hostname, parts.port or 443), timeout=timeout)
    except OSError:
        return None
    try:
        # The handshake within the same time, as a whole: a socket's timeout bounds each read alone,
        # and a server sending its handshake a byte at a time would keep the send waiting for hours.
        raw.setblocking(False)
        with context.wrap_socket(raw, server_hostname=parts.hostname, do_handshake_on_connect=False) as tls:
            while True:
                if (left := deadline - time.monotonic()) <= 0:
                    return None
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    select.select([tls], [], [], left)
                except ssl.SSLWantWriteError:
                    select.select([], [tls], [], left)
            while (left := deadline - time.monotonic()) > 0:
                select.select([tls], [], [], left)
                try:
                    tls.recv(1)
                    return None  # (data, or the connection closed without an alert: no refusal said)
                except ssl.SSLWantReadError:
                    # The server's session tickets come once it has finished its handshake, our
                    # certificate checked: it accepted it.
                    if tls.session is not None and tls.session.has_ticket:
                        return None
    except ssl.SSLError as exc:  # (in TLS 1.2 the refusal comes in the handshake)
        return certificate_alert(exc)
    except OSError:
        return None
    finally:
        raw.close()
    return None
