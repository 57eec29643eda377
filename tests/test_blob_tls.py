"""A CA bundle named in the environment is trusted for Blob Storage over TLS, as by any requests client.

The transport skips requests' per-request look-ups in the environment when no proxy is set, and
passes the bundle once instead: an endpoint whose certificate only that bundle vouches for must
still be reached (and one it does not vouch for must not).
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from otel_modeldata import Settings
from otel_modeldata.destinations import DestinationError
from otel_modeldata.destinations.blob import BlobDestination

ENVIRONMENT = (
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "NETRC",
    *(f"{scheme}_PROXY" for scheme in ("HTTP", "HTTPS", "ALL", "NO")),
    *(f"{scheme}_proxy" for scheme in ("http", "https", "all", "no")),
)


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, signed by its own key: trusted only where it is named."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class _Refusing(BaseHTTPRequestHandler):
    """Answers every request 403: the request arrived, over TLS, and that is all the test needs."""

    arrived: list[str]

    def _refuse(self) -> None:
        self.arrived.append(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PUT = do_HEAD = _refuse

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path, list[str]]]:
    """An HTTPS server on a free port: its port, its certificate and the paths it was asked for."""
    cert, key = self_signed(tmp_path)
    arrived: list[str] = []
    handler = type("Handler", (_Refusing,), {"arrived": arrived})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], cert, arrived
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", None])
def test_the_ca_bundle_named_in_the_environment_is_the_one_trusted(
    tls_server: tuple[int, Path, list[str]], monkeypatch: pytest.MonkeyPatch, variable: str | None
) -> None:
    port, cert, arrived = tls_server
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    if variable is not None:
        monkeypatch.setenv(variable, str(cert))
    connection_string = (
        "DefaultEndpointsProtocol=https;AccountName=devstoreaccount1;AccountKey=a2V5;"
        f"BlobEndpoint=https://127.0.0.1:{port}/devstoreaccount1;"
    )
    settings = Settings.from_env({}, storage_connection_string=connection_string, container="tls")
    destination = BlobDestination.from_settings(settings, deadline=0.5)
    try:
        with pytest.raises(DestinationError):
            destination.append("m/1/inputs/2026/12/01", b"x\r\n", b"1\r\n")
    finally:
        destination.close()
    if variable is None:
        assert arrived == [], "a certificate no bundle vouches for was trusted"
    else:
        assert arrived, f"the bundle named in {variable} was not trusted"
