"""TLS for gRPC (server, client, optional mutual TLS) and for NATS, from settings.

Plain text stays the local default: with no certificate configured, servers listen in plain text
and say so in their start-up log line.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc

from services.mesh.settings import SettingsError, env_bool, env_file, env_str


@dataclass(frozen=True)
class GrpcTls:
    """Certificates of one process, used when it serves gRPC and when it dials other services."""

    cert_file: Path | None = None
    key_file: Path | None = None
    ca_file: Path | None = None
    require_client_cert: bool = False
    server_name: str = ""

    @classmethod
    def from_env(cls) -> GrpcTls:
        """GRPC_TLS_CERT/KEY (this process's certificate), GRPC_TLS_CA (the CA that signs peers),
        GRPC_TLS_REQUIRE_CLIENT_CERT (mutual TLS), GRPC_TLS_SERVER_NAME (name to verify)."""
        tls = cls(
            cert_file=env_file("GRPC_TLS_CERT"),
            key_file=env_file("GRPC_TLS_KEY"),
            ca_file=env_file("GRPC_TLS_CA"),
            require_client_cert=env_bool("GRPC_TLS_REQUIRE_CLIENT_CERT", False),
            server_name=env_str("GRPC_TLS_SERVER_NAME", ""),
        )
        if (tls.cert_file is None) != (tls.key_file is None):
            raise SettingsError("GRPC_TLS_CERT and GRPC_TLS_KEY must be set together")
        if tls.require_client_cert and tls.ca_file is None:
            raise SettingsError("GRPC_TLS_REQUIRE_CLIENT_CERT needs GRPC_TLS_CA to verify clients")
        return tls

    @property
    def serves_tls(self) -> bool:
        """True when servers of this process listen with TLS."""
        return self.cert_file is not None

    @property
    def dials_tls(self) -> bool:
        """True when channels of this process verify servers with TLS."""
        return self.ca_file is not None

    def _pair(self) -> tuple[bytes, bytes] | None:
        if self.cert_file is None or self.key_file is None:
            return None
        return self.key_file.read_bytes(), self.cert_file.read_bytes()

    def server_credentials(self) -> grpc.ServerCredentials:
        """Credentials for a TLS server; mutual TLS when client certificates are required."""
        pair = self._pair()
        if pair is None:
            raise SettingsError("GRPC_TLS_CERT and GRPC_TLS_KEY are needed to serve TLS")
        roots = self.ca_file.read_bytes() if self.ca_file is not None else None
        return grpc.ssl_server_credentials(
            [pair],
            root_certificates=roots,
            require_client_auth=self.require_client_cert,
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """Credentials for a TLS channel; presents this process's certificate when it has one."""
        if self.ca_file is None:
            raise SettingsError("GRPC_TLS_CA is needed to dial TLS")
        pair = self._pair()
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca_file.read_bytes(),
            private_key=pair[0] if pair else None,
            certificate_chain=pair[1] if pair else None,
        )

    def channel_options(self) -> list[tuple[str, str]]:
        """Extra channel options, e.g. the name to verify when it differs from the address."""
        if self.server_name:
            return [("grpc.ssl_target_name_override", self.server_name)]
        return []


def nats_tls_context() -> ssl.SSLContext | None:
    """An SSL context for NATS from NATS_TLS_CA, NATS_TLS_CERT and NATS_TLS_KEY, or None."""
    ca_file = env_file("NATS_TLS_CA")
    cert_file = env_file("NATS_TLS_CERT")
    key_file = env_file("NATS_TLS_KEY")
    if ca_file is None and cert_file is None:
        return None
    if (cert_file is None) != (key_file is None):
        raise SettingsError("NATS_TLS_CERT and NATS_TLS_KEY must be set together")
    context = ssl.create_default_context(
        ssl.Purpose.SERVER_AUTH, cafile=str(ca_file) if ca_file else None
    )
    if cert_file is not None and key_file is not None:
        context.load_cert_chain(str(cert_file), str(key_file))
    return context
