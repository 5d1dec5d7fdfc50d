"""Settings of the Essay Lifecycle Service, read from the environment: DOCUMENTED (below) lists
each one, and docs/services.md shows that list (python -m devstack.settings_docs)."""

from __future__ import annotations

from dataclasses import dataclass

from services.essay_lifecycle.domain.derived import SPELLCHECK_GROUP_SIZE
from services.essay_lifecycle.domain.slots import ReadinessRules
from services.mesh.metrics import METRICS_OFF, MetricsSettings
from services.mesh.settings import (
    Documented,
    NatsSettings,
    env_addr,
    env_dial_target,
    env_float,
    env_int,
    env_str,
)


@dataclass(frozen=True)
class EssayLifecycleSettings:
    """Everything `python -m services.essay_lifecycle` reads at start."""

    addr: str
    content_addr: str  # GetEssay reads an essay's corrections from the Content Service
    nats: NatsSettings
    readiness: ReadinessRules  # applied when a registration carries no readiness config
    consumer_concurrency: int
    shutdown_grace_s: float
    log_level: str
    metrics: MetricsSettings = METRICS_OFF  # run() serves /metrics; tests in-process do not
    # How long uploads are held for a batch ELS has not seen registered, after the last one.
    unregistered_hold_s: float = 3600.0
    # How long an erased batch's tombstone stays: the event log's retention, after which no event
    # of the batch is left to arrive.
    tombstone_s: float = 7 * 86400.0
    # Essays per SpellcheckGroupRequested.
    spellcheck_group_size: int = SPELLCHECK_GROUP_SIZE

    @classmethod
    def from_env(cls) -> EssayLifecycleSettings:
        """Read ESSAY_LIFECYCLE_ADDR, CONTENT_SERVICE_ADDR, NATS_* and the ELS_* settings."""
        return cls(
            addr=env_addr("ESSAY_LIFECYCLE_ADDR"),
            content_addr=env_dial_target("CONTENT_SERVICE_ADDR"),
            nats=NatsSettings.from_env(),
            readiness=ReadinessRules(
                timeout_s=env_int("ELS_DEFAULT_TIMEOUT_S", 600, minimum=1, maximum=30 * 86400),
                partial_threshold=env_float(
                    "ELS_DEFAULT_PARTIAL_THRESHOLD", 1.0, minimum=0.0, maximum=1.0
                ),
            ),
            consumer_concurrency=env_int("ELS_CONSUMER_CONCURRENCY", 64, minimum=1, maximum=512),
            shutdown_grace_s=env_float("ELS_SHUTDOWN_GRACE_S", 5.0, minimum=0.0, maximum=300.0),
            log_level=env_str("LOG_LEVEL", "INFO"),
            metrics=MetricsSettings.from_env("ESSAY_LIFECYCLE_METRICS_ADDR"),
            unregistered_hold_s=env_float(
                "ELS_UNREGISTERED_HOLD_S", 3600.0, minimum=1.0, maximum=30 * 86400.0
            ),
            tombstone_s=env_float(
                "ELS_ERASED_TOMBSTONE_S", 7 * 86400.0, minimum=60.0, maximum=365 * 86400.0
            ),
            spellcheck_group_size=env_int(
                "ELS_SPELLCHECK_GROUP_SIZE", SPELLCHECK_GROUP_SIZE, minimum=1, maximum=100
            ),
        )


# The variables this service reads beyond SHARED_SETTINGS (services.mesh.settings), as
# docs/services.md lists them (written from here by `python -m devstack.settings_docs`).
DOCUMENTED: tuple[Documented, ...] = (
    Documented(
        "CONTENT_SERVICE_ADDR",
        "`127.0.0.1:50051`",
        (
            "where GetEssay reads an essay's corrections and unknown words (as the caller's "
            "tenant), and where an erased batch's contents are erased"
        ),
    ),
    Documented(
        "ELS_DEFAULT_TIMEOUT_S",
        "`600`",
        "readiness deadline when a registration carries no timeout",
    ),
    Documented(
        "ELS_DEFAULT_PARTIAL_THRESHOLD",
        "`1.0`",
        "partial threshold when a registration carries no readiness config",
    ),
    Documented(
        "ELS_CONSUMER_CONCURRENCY",
        "`64`",
        (
            "events handled at once per instance (the more at once, the more updates of one batch "
            "share a write)"
        ),
    ),
    Documented(
        "ELS_SPELLCHECK_GROUP_SIZE",
        f"`{SPELLCHECK_GROUP_SIZE}`",
        (
            "essays per spell-check request (SpellcheckGroupRequested): a batch's essays go to "
            "the Spell Checker in the fewest groups of at most this many, one message each"
        ),
    ),
    Documented(
        "ELS_UNREGISTERED_HOLD_S",
        "`3600`",
        (
            "how long uploads for a batch ELS has not seen registered are held after the last "
            "one; then the batch's tracker and the held uploads expire (JetStream per-message TTL)"
        ),
    ),
    Documented(
        "ELS_ERASED_TOMBSTONE_S",
        "`604800`",
        (
            "how long an erased batch's tombstone (ids only) stays, so events still in flight "
            "for it erase what they carry; the event log's retention"
        ),
    ),
    Documented(
        "ELS_SHUTDOWN_GRACE_S",
        "`5`",
        "time in-flight gRPC calls get on SIGTERM",
    ),
    Documented(
        "ESSAY_LIFECYCLE_METRICS_ADDR", "`127.0.0.1:9104`", "where Prometheus `/metrics` is served"
    ),
)
