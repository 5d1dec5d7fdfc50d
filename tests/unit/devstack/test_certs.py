"""The development certificates of `make certs`: what a service's certificate is good for."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from devstack.certs import write_certificates


def test_a_service_certificate_serves_and_dials_under_every_name(tmp_path: Path) -> None:
    made = write_certificates(tmp_path)
    server = x509.load_pem_x509_certificate(made.server_cert.read_bytes())
    client = x509.load_pem_x509_certificate(made.client_cert.read_bytes())

    # a service presents its one certificate when it calls another service under mutual TLS
    usages = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    client_usages = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(client_usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = set(names.get_values_for_type(x509.DNSName))
    # package names, docker compose host names, localhost and nats
    assert {"content_service", "content-service", "spell-checker", "localhost", "nats"} <= dns
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert oct(made.server_key.stat().st_mode & 0o777) == "0o600"
