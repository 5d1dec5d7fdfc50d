"""Development certificates: a local CA, a server certificate for every service name and a
client certificate. `make certs` writes them to .certs/; tests write them to a temporary folder."""

from __future__ import annotations

import argparse
import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# The services' names as Python packages and as docker compose hosts (content-service, ...).
_SERVICE_NAMES = (
    "content_service",
    "file_service",
    "batch_orchestrator",
    "essay_lifecycle",
    "spell_checker",
)
SERVER_NAMES = (
    "localhost",
    *_SERVICE_NAMES,
    *(name.replace("_", "-") for name in _SERVICE_NAMES),
    "nats",
)
_VALID_DAYS = 365


@dataclass(frozen=True)
class CertificateSet:
    """Paths of the files `write_certificates` made."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "HuleEdu Mesh development"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _issue(
    common_name: str,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_name: x509.Name,
    usages: list[x509.ObjectIdentifier],
    alt_names: list[x509.GeneralName],
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    )
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def write_certificates(folder: Path) -> CertificateSet:
    """Create a CA, a server certificate (every service name, localhost, 127.0.0.1, ::1) and a
    client certificate in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("HuleEdu Mesh development CA")
    now = datetime.datetime.now(datetime.UTC)
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_VALID_DAYS))
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
        .sign(ca_key, hashes.SHA256())
    )
    alt_names: list[x509.GeneralName] = [x509.DNSName(name) for name in SERVER_NAMES]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ("127.0.0.1", "::1")]
    # A service serves with this certificate and presents it when it dials another service
    # (File Service and Spell Checker call the Content Service): under mutual TLS the peer checks
    # its purpose, so it is good for both (with serverAuth alone those calls were refused).
    server_cert, server_key = _issue(
        "huleedu-server",
        ca_key,
        ca_name,
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        alt_names,
    )
    client_cert, client_key = _issue(
        "huleedu-client", ca_key, ca_name, [ExtendedKeyUsageOID.CLIENT_AUTH], []
    )
    made = CertificateSet(
        ca_cert=folder / "ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server-key.pem",
        client_cert=folder / "client.pem",
        client_key=folder / "client-key.pem",
    )
    pem = serialization.Encoding.PEM
    made.ca_cert.write_bytes(ca_cert.public_bytes(pem))
    made.server_cert.write_bytes(server_cert.public_bytes(pem))
    made.client_cert.write_bytes(client_cert.public_bytes(pem))
    _write_key(server_key, made.server_key)
    _write_key(client_key, made.client_key)
    return made


def main() -> None:
    """`python -m devstack.certs [FOLDER]`: write development certificates."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("folder", nargs="?", default=".certs", type=Path)
    made = write_certificates(parser.parse_args().folder)
    print(
        f"wrote {made.ca_cert.parent}/: ca.pem, server.pem, server-key.pem, client.pem, "
        "client-key.pem"
    )


if __name__ == "__main__":
    main()
