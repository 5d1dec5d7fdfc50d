"""The one way to dial a service: message limits that match its server, round robin over the
addresses a target resolves to, TLS from the GRPC_TLS_* settings, a gRPC service config, and the
tracing interceptor when tracing is on. Apart from grpc_server.py so that a client (the CLI)
does not load the server's health, reflection and metrics to make a call."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from services.mesh import tracing
from services.mesh.tls import GrpcTls

DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024


def message_options(max_message_bytes: int) -> list[tuple[str, int]]:
    """The channel (or server) options that set both message size limits."""
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
    ]


def grpc_channel(
    addr: str,
    *,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    tls: GrpcTls | None = None,
    service_config: str | None = None,
    interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
) -> grpc.aio.Channel:
    """A channel to another service, with message limits that match its server; TLS when
    `tls` (or the GRPC_TLS_* settings) name a CA; `service_config` (gRPC's JSON, e.g. a
    retryPolicy) when given; `interceptors` after the tracing one (e.g. a bearer token)."""
    tls = tls if tls is not None else GrpcTls.from_env()
    options: list[tuple[str, int | str]] = [
        *message_options(max_message_bytes),
        # Every address the target resolves to gets calls in turn; one that is down is skipped.
        ("grpc.lb_policy_name", "round_robin"),
    ]
    if service_config is not None:
        options += [("grpc.service_config", service_config), ("grpc.enable_retries", 1)]
    interceptors = [*tracing.client_interceptors(), *interceptors]
    if not tls.dials_tls:
        return grpc.aio.insecure_channel(addr, options=options, interceptors=interceptors)
    options.extend(tls.channel_options())
    return grpc.aio.secure_channel(
        addr, tls.channel_credentials(), options=options, interceptors=interceptors
    )
