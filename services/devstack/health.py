"""The gRPC health probe: what `grpc.health.v1.Health/Check` says about a server right now."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

UNREACHABLE = "UNREACHABLE"


def check_health(addr: str, *, service: str = "", timeout_s: float = 1.0) -> str:
    """The serving status name (`SERVING`, `NOT_SERVING`, ...) of `service` at `addr`, or
    `UNREACHABLE` when nothing answers within `timeout_s`."""
    with grpc.insecure_channel(addr) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
        except grpc.RpcError as error:
            code = error.code() if isinstance(error, grpc.Call) else None
            if code == grpc.StatusCode.NOT_FOUND:
                return "SERVICE_UNKNOWN"
            return UNREACHABLE
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
