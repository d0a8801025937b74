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


def write_mutual_tls(folder: Path) -> None:
    """Files for a VASP serving TLS that requires its MMSC's client certificate: the VASP's CA
    (server-ca.pem) with the server's cert.pem and key.pem for 127.0.0.1; the MMSC's CA
    (mmsc-ca.pem, for tls_client_ca) and its certificate (mmsc.pem with its key, and apart
    mmsc-cert.pem and mmsc-key.pem); another CA's certificate with its key (stranger.pem)."""
    trustme = pytest.importorskip("trustme")
    server_ca, mmsc_ca, stranger_ca = trustme.CA(), trustme.CA(), trustme.CA()
    server_ca.cert_pem.write_to_path(str(folder / "server-ca.pem"))
    issued = server_ca.issue_cert("127.0.0.1")
    issued.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    issued.private_key_pem.write_to_path(str(folder / "key.pem"))
    mmsc_ca.cert_pem.write_to_path(str(folder / "mmsc-ca.pem"))
    mmsc = mmsc_ca.issue_cert("mmsc.example")
    mmsc.private_key_and_cert_chain_pem.write_to_path(str(folder / "mmsc.pem"))
    mmsc.cert_chain_pems[0].write_to_path(str(folder / "mmsc-cert.pem"))
    mmsc.private_key_pem.write_to_path(str(folder / "mmsc-key.pem"))
    stranger_ca.issue_cert("mmsc.example").private_key_and_cert_chain_pem.write_to_path(str(folder / "stranger.pem"))
