"""Content Service settings, read from environment variables.

| variable | default | meaning |
|---|---|---|
| `CONTENT_SERVICE_ADDR` | `127.0.0.1:50051` | host:port the gRPC server binds |
| `CONTENT_MAX_OBJECT_BYTES` | `10485760` | largest object (bytes) PutContent stores; more: |
|   |   | RESOURCE_EXHAUSTED. gRPC message limits are set from it |
| `CONTENT_SHUTDOWN_GRACE_S` | `5` | time in-flight gRPC calls get on SIGTERM |
| `LOG_LEVEL` | `INFO` | log level of the JSON logs on stderr |
| `CONTENT_SERVICE_METRICS_ADDR` | `127.0.0.1:9101` | where /metrics is served; |
|   |   | `METRICS_ENABLED=false` serves none |
| `NATS_URL` and `NATS_*` | see services/mesh/settings.py | where JetStream is |
"""

from __future__ import annotations

from dataclasses import dataclass

from services.mesh.metrics import METRICS_OFF, MetricsSettings
from services.mesh.settings import NatsSettings, env_addr, env_float, env_int, env_str

DEFAULT_MAX_OBJECT_BYTES = 10 * 1024 * 1024
_ENVELOPE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ContentServiceSettings:
    """Everything the Content Service reads from its environment."""

    addr: str
    max_object_bytes: int
    log_level: str
    nats: NatsSettings
    metrics: MetricsSettings = METRICS_OFF  # from_env() turns it on; in-process tests do not
    shutdown_grace_s: float = 5.0

    @property
    def grpc_max_message_bytes(self) -> int:
        """gRPC message limit: room for twice the object limit, so an oversized put reaches the
        service and is refused with a message that names the limit, and a read always fits."""
        return 2 * self.max_object_bytes + _ENVELOPE_BYTES

    @classmethod
    def from_env(cls) -> ContentServiceSettings:
        """Read the settings; a malformed value raises SettingsError naming the variable."""
        return cls(
            addr=env_addr("CONTENT_SERVICE_ADDR"),
            max_object_bytes=env_int(
                "CONTENT_MAX_OBJECT_BYTES", DEFAULT_MAX_OBJECT_BYTES, minimum=1, maximum=1 << 30
            ),
            log_level=env_str("LOG_LEVEL", "INFO"),
            nats=NatsSettings.from_env(),
            metrics=MetricsSettings.from_env("CONTENT_SERVICE_METRICS_ADDR"),
            shutdown_grace_s=env_float("CONTENT_SHUTDOWN_GRACE_S", 5.0, minimum=0.0, maximum=300.0),
        )
