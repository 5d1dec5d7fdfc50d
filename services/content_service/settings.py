"""Content Service settings, read from environment variables: DOCUMENTED (below) lists each one,
and docs/services.md shows that list (python -m devstack.settings_docs)."""

from __future__ import annotations

from dataclasses import dataclass

from services.mesh.metrics import METRICS_OFF, MetricsSettings
from services.mesh.settings import Documented, NatsSettings, env_addr, env_float, env_int, env_str

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


# The variables this service reads beyond SHARED_SETTINGS (services.mesh.settings), as
# docs/services.md lists them (written from here by `python -m devstack.settings_docs`).
DOCUMENTED: tuple[Documented, ...] = (
    Documented(
        "CONTENT_MAX_OBJECT_BYTES",
        "`10485760`",
        "largest object stored; gRPC message limits are set from it (2× + 1 MiB)",
    ),
    Documented(
        "CONTENT_SHUTDOWN_GRACE_S",
        "`5`",
        "time calls in flight get on SIGTERM",
    ),
    Documented(
        "CONTENT_SERVICE_METRICS_ADDR", "`127.0.0.1:9101`", "where Prometheus `/metrics` is served"
    ),
)
