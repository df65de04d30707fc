"""Secured fronts for a real MLflow server: a loopback TLS terminator with a throw-away CA, and basic auth.

`make_certificates(dir)` writes a CA (ca.pem) and a server certificate for 127.0.0.1 and
localhost signed by it (server.pem, server.key), with the `cryptography` package MLflow
already depends on. `tls_terminator(upstream, certs)` serves HTTPS on 127.0.0.1 with that
certificate and forwards to the plain-HTTP upstream (it is tests/fakes/fault_proxy.py with TLS and no
faults). A client that trusts the system CAs rejects it; one given ca.pem accepts it.

`running_basic_auth_server(root)` is a real `mlflow server --app-name basic-auth` whose admin
(ADMIN_USER / ADMIN_PASSWORD) is created on first start from MLFLOW_AUTH_ADMIN_PASSWORD: MLflow
3.17 ships no default admin password and refuses one shorter than 12 characters.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

from tests.fakes.fault_proxy import FaultProxy, fault_proxy
from tests.mlflow_server import MlflowServer, running_server

ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin-pw-Zq84Lm2Rw7"


@dataclasses.dataclass(frozen=True)
class TestCertificates:
    ca_cert: Path
    server_cert: Path
    server_key: Path


TestCertificates.__test__ = False  # type: ignore[attr-defined]  # not a pytest test class


def make_certificates(directory: Path, *, common_name: str = "ci-track test CA") -> TestCertificates:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    validity = (now - dt.timedelta(minutes=5), now + dt.timedelta(days=1))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )

    paths = TestCertificates(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    paths.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths.server_cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    paths.server_key.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


def server_context(certs: TestCertificates) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certs.server_cert, certs.server_key)
    return context


@contextlib.contextmanager
def tls_terminator(upstream: str, certs: TestCertificates) -> Iterator[FaultProxy]:
    """HTTPS on 127.0.0.1 (`.url` is https://127.0.0.1:PORT) forwarding to the http:// upstream."""
    with fault_proxy(upstream, rate=0.0, ssl_context=server_context(certs)) as proxy:
        yield proxy


@contextlib.contextmanager
def running_basic_auth_server(root: Path) -> Iterator[MlflowServer]:
    """A real MLflow server with HTTP basic auth; its users live in root/basic_auth.db."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "basic_auth.ini"
    config.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = sqlite:///{root / 'basic_auth.db'}\n"
        f"admin_username = {ADMIN_USER}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    env = {
        "MLFLOW_AUTH_CONFIG_PATH": str(config),
        "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-secret-key-for-flask-sessions",
    }
    with running_server(root, extra_args=["--app-name", "basic-auth"], extra_env=env) as server:
        yield server
