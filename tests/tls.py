"""A throw-away certificate authority for tests that serve or call TLS on loopback."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class LocalTLS:
    server: ssl.SSLContext  # holds a certificate for 127.0.0.1
    client: ssl.SSLContext  # trusts it
    ca_file: Path | None  # the CA as PEM, for what takes a file (requests' verify=, --vasp-ca)


def local_tls(folder: Path | None = None) -> LocalTLS:
    """Server and client contexts from a new CA (the test is skipped without trustme); with
    `folder`, the CA is also written there as ca.pem."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    ca_file = None
    if folder is not None:
        ca_file = folder / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
    return LocalTLS(server, client, ca_file)
