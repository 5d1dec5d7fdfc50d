"""BOS settings, read from the environment once at start: DOCUMENTED (below) lists each one, and
docs/services.md shows that list (python -m devstack.settings_docs)."""

from __future__ import annotations

from dataclasses import dataclass

from services.batch_orchestrator.domain.registration import RegistrationPolicy
from services.mesh.metrics import METRICS_OFF, MetricsSettings
from services.mesh.settings import Documented, NatsSettings, env_addr, env_float, env_int, env_str

SEVEN_DAYS_S = 7 * 24 * 3600


@dataclass(frozen=True)
class BosSettings:
    """Everything `python -m services.batch_orchestrator` reads from the environment."""

    addr: str
    nats: NatsSettings
    policy: RegistrationPolicy
    announce_retry_s: float = 10.0
    announce_grace_s: float = 5.0
    unknown_batch_retry_s: float = 2.0
    consumer_concurrency: int = 16
    shutdown_grace_s: float = 5.0
    log_level: str = "INFO"
    metrics: MetricsSettings = METRICS_OFF  # __main__ serves /metrics; tests in-process do not
    # Batches registered longer ago than this are erased (0: kept until deleted).
    retention_days: float = 0.0
    retention_check_s: float = 3600.0

    @classmethod
    def from_env(cls) -> BosSettings:
        """Read BATCH_ORCHESTRATOR_ADDR, NATS_* and BOS_*; SettingsError names a bad one."""
        max_timeout = env_int(
            "BOS_MAX_READINESS_TIMEOUT_S", SEVEN_DAYS_S, minimum=1, maximum=SEVEN_DAYS_S
        )
        return cls(
            addr=env_addr("BATCH_ORCHESTRATOR_ADDR"),
            nats=NatsSettings.from_env(),
            policy=RegistrationPolicy(
                max_essays=env_int("BOS_MAX_ESSAYS", 500, minimum=1, maximum=10_000),
                default_timeout_s=env_int(
                    "BOS_DEFAULT_READINESS_TIMEOUT_S", 600, minimum=1, maximum=max_timeout
                ),
                max_timeout_s=max_timeout,
                default_partial_threshold=env_float(
                    "BOS_DEFAULT_PARTIAL_THRESHOLD", 1.0, minimum=0.0, maximum=1.0
                ),
            ),
            announce_retry_s=env_float("BOS_ANNOUNCE_RETRY_S", 10.0, minimum=0.1, maximum=3600.0),
            announce_grace_s=env_float("BOS_ANNOUNCE_GRACE_S", 5.0, minimum=0.0, maximum=3600.0),
            unknown_batch_retry_s=env_float(
                "BOS_UNKNOWN_BATCH_RETRY_S", 2.0, minimum=0.1, maximum=600.0
            ),
            consumer_concurrency=env_int("BOS_CONSUMER_CONCURRENCY", 16, minimum=1, maximum=256),
            shutdown_grace_s=env_float("BOS_SHUTDOWN_GRACE_S", 5.0, minimum=0.0, maximum=300.0),
            log_level=env_str("LOG_LEVEL", "INFO"),
            metrics=MetricsSettings.from_env("BATCH_ORCHESTRATOR_METRICS_ADDR"),
            retention_days=env_float("RETENTION_DAYS", 365.0, minimum=0.0, maximum=36500.0),
            retention_check_s=env_float(
                "BOS_RETENTION_CHECK_S", 3600.0, minimum=1.0, maximum=86400.0
            ),
        )


# The variables this service reads beyond SHARED_SETTINGS (services.mesh.settings), as
# docs/services.md lists them (written from here by `python -m devstack.settings_docs`).
DOCUMENTED: tuple[Documented, ...] = (
    Documented(
        "RETENTION_DAYS",
        "`365`",
        (
            "batches registered longer ago are erased everywhere, as DeleteBatch erases them "
            "(fractions allowed; 0 keeps them until deleted)"
        ),
    ),
    Documented(
        "BOS_RETENTION_CHECK_S",
        "`3600`",
        "how often BOS looks for batches past `RETENTION_DAYS`",
    ),
    Documented(
        "BOS_MAX_ESSAYS",
        "`500`",
        "largest `expected_essay_count` (1–10000)",
    ),
    Documented(
        "BOS_DEFAULT_READINESS_TIMEOUT_S",
        "`600`",
        "readiness timeout when the request leaves it at 0",
    ),
    Documented(
        "BOS_MAX_READINESS_TIMEOUT_S",
        "`604800`",
        "largest readiness timeout (the event log's retention)",
    ),
    Documented(
        "BOS_DEFAULT_PARTIAL_THRESHOLD",
        "`1.0`",
        (
            "threshold when the request leaves it at 0 (only a complete batch is processed at the "
            "deadline)"
        ),
    ),
    Documented(
        "BOS_ANNOUNCE_RETRY_S",
        "`10`",
        "how often the announcer looks for unannounced batches",
    ),
    Documented(
        "BOS_ANNOUNCE_GRACE_S",
        "`5`",
        "age a mark must reach before the announcer takes over from its RPC",
    ),
    Documented(
        "BOS_UNKNOWN_BATCH_RETRY_S",
        "`2`",
        "retry delay for events about an unknown batch",
    ),
    Documented(
        "BOS_CONSUMER_CONCURRENCY",
        "`16`",
        "events handled at once",
    ),
    Documented(
        "BOS_SHUTDOWN_GRACE_S",
        "`5`",
        "time calls in flight get at shutdown",
    ),
    Documented(
        "BATCH_ORCHESTRATOR_METRICS_ADDR",
        "`127.0.0.1:9103`",
        "where Prometheus `/metrics` is served",
    ),
)
