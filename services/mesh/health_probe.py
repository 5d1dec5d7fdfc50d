"""The gRPC health probe: what `grpc.health.v1.Health/Check` says about a server right now (the
containers' health check, docker/healthcheck.py, and the local stack's status)."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.mesh.tls import GrpcTls

UNREACHABLE = "UNREACHABLE"


def _channel(addr: str) -> grpc.Channel:
    """A channel that dials as the services do: TLS (and mTLS) when GRPC_TLS_CA is set."""
    tls = GrpcTls.from_env()
    if not tls.dials_tls:
        return grpc.insecure_channel(addr)
    return grpc.secure_channel(addr, tls.channel_credentials(), tls.channel_options())


def check_health(addr: str, *, service: str = "", timeout_s: float = 1.0) -> str:
    """The serving status name (`SERVING`, `NOT_SERVING`, ...) of `service` at `addr`, or
    `UNREACHABLE` when nothing answers within `timeout_s`."""
    with _channel(addr) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
        except grpc.RpcError as error:
            code = error.code() if isinstance(error, grpc.Call) else None
            if code == grpc.StatusCode.NOT_FOUND:
                return "SERVICE_UNKNOWN"
            return UNREACHABLE
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
