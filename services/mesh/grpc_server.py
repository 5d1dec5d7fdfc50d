"""The gRPC server bootstrap every service uses: health, reflection (v1, v1alpha), graceful stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

# The asyncio servicer: the threaded one blocks an executor thread per Watch and hangs exit.
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]

from services.mesh.auth import AuthSettings, server_interceptor
from services.mesh.grpc_channel import DEFAULT_MAX_MESSAGE_BYTES, message_options
from services.mesh.lifecycle import cancel_and_wait
from services.mesh.metrics import GrpcMetricsInterceptor
from services.mesh.reflection import enable_reflection
from services.mesh.tls import GrpcTls

log = logging.getLogger(__name__)


# How often the health servicer looks at the consumers it follows.
_FOLLOW_INTERVAL_S = 1.0


class Stallable(Protocol):
    """Something the service cannot work without that can stall (an EventConsumer)."""

    @property
    def stalled(self) -> bool:
        """True while it does no work."""
        ...


class GrpcServer:
    """A started grpc.aio server with its health servicer."""

    def __init__(
        self,
        server: grpc.aio.Server,
        health_servicer: health_aio.HealthServicer,
        port: int,
        service_names: Sequence[str],
    ) -> None:
        self.server = server
        self.health = health_servicer
        self.port = port
        self._service_names = list(service_names)
        self._follower: asyncio.Task[None] | None = None

    def follow(self, parts: Sequence[Stallable]) -> None:
        """Answer NOT_SERVING while any of `parts` is stalled and SERVING again when none is:
        an instance whose consumer cannot fetch is taken out of rotation by whoever probes
        its health (docker's health check, an orchestrator), and a log says why."""
        if parts:
            self._follower = asyncio.create_task(self._follow(list(parts)))

    async def _follow(self, parts: list[Stallable]) -> None:
        serving = True
        while True:
            now_serving = not any(part.stalled for part in parts)
            if now_serving != serving:
                serving = now_serving
                status = health_pb2.HealthCheckResponse.SERVING
                if not serving:
                    status = health_pb2.HealthCheckResponse.NOT_SERVING
                log.warning("health changed", extra={"serving": serving, "port": self.port})
                for name in ("", *self._service_names):
                    await self.health.set(name, status)
            await asyncio.sleep(_FOLLOW_INTERVAL_S)

    async def enter_graceful_shutdown(self) -> None:
        """Answer NOT_SERVING for every service from now on."""
        if self._follower is not None:
            await cancel_and_wait(self._follower)
        await self.health.enter_graceful_shutdown()

    async def stop(self, grace_s: float = 5.0) -> None:
        """Answer NOT_SERVING, stop taking calls, let calls in flight finish within `grace_s`."""
        await self.enter_graceful_shutdown()
        log.info("grpc server stopping", extra={"port": self.port, "grace_s": grace_s})
        await self.server.stop(grace_s)


async def start_grpc_server(
    addr: str,
    register: Callable[[grpc.aio.Server], None],
    service_names: Sequence[str],
    *,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    tls: GrpcTls | None = None,
    auth: AuthSettings | None = None,
) -> GrpcServer:
    """Bind `addr` (port 0 picks a free port), register the servicers, health and reflection.

    TLS comes from `tls`, or from the GRPC_TLS_* settings when not given; plain text otherwise.
    Bearer tokens are verified by `auth`, or by the AUTH_* settings when not given.
    """
    tls = tls if tls is not None else GrpcTls.from_env()
    auth = auth if auth is not None else AuthSettings.from_env()
    server = grpc.aio.server(
        options=message_options(max_message_bytes),
        interceptors=[GrpcMetricsInterceptor(), server_interceptor(auth)],
    )
    register(server)
    health_servicer = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    enable_reflection(server, [*service_names, health.SERVICE_NAME])
    if tls.serves_tls:
        port = server.add_secure_port(addr, tls.server_credentials())
    else:
        port = server.add_insecure_port(addr)
    if port == 0:
        raise OSError(f"cannot bind gRPC address {addr}")
    await server.start()
    for name in ("", *service_names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    if tls.serves_tls:
        mode = "mutual TLS" if tls.require_client_cert else "TLS"
    else:
        mode = "plaintext (no GRPC_TLS_CERT set)"
    authentication = (
        f"bearer tokens verified against {auth.jwks_file}"
        if auth.enabled
        else "off: every call is one local tenant (no AUTH_JWKS_FILE set)"
    )
    log.info(
        "grpc server listening",
        extra={"addr": addr, "port": port, "transport": mode, "authentication": authentication},
    )
    return GrpcServer(server, health_servicer, port, service_names)
