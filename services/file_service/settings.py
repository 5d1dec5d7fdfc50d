"""File Service settings, read from environment variables: DOCUMENTED (below) lists each one,
and docs/services.md shows that list (python -m devstack.settings_docs)."""

from __future__ import annotations

from dataclasses import dataclass

from services.file_service.adapters.extraction_pool import PoolSettings
from services.file_service.domain.extract_docx import DocxLimits
from services.file_service.domain.extraction import ExtractionLimits
from services.file_service.domain.ingest import IngestPolicy
from services.mesh.metrics import METRICS_OFF, MetricsSettings
from services.mesh.settings import (
    Documented,
    NatsSettings,
    SettingsError,
    env_addr,
    env_dial_target,
    env_float,
    env_int,
    env_str,
)

_MIB = 1024 * 1024


@dataclass(frozen=True)
class FileServiceSettings:
    """Everything the File Service reads from its environment."""

    addr: str
    content_service_addr: str
    ingest: IngestPolicy
    limits: ExtractionLimits
    pool: PoolSettings
    upload_concurrency: int
    log_level: str
    nats: NatsSettings
    metrics: MetricsSettings = METRICS_OFF  # from_env() turns it on; in-process tests do not
    shutdown_grace_s: float = 10.0

    @property
    def grpc_max_message_bytes(self) -> int:
        """gRPC message limit: room for twice the upload limit, so an oversized file reaches the
        service and is refused with a message that names the limit."""
        return 2 * self.ingest.max_upload_bytes + _MIB

    @classmethod
    def from_env(cls) -> FileServiceSettings:
        """Read the settings; a malformed value raises SettingsError naming the variable."""
        min_words = env_int("FILE_MIN_WORDS", 25, minimum=0)
        max_words = env_int("FILE_MAX_WORDS", 10_000, minimum=1)
        if max_words < min_words:
            raise SettingsError(f"FILE_MAX_WORDS={max_words} is below FILE_MIN_WORDS={min_words}")
        return cls(
            addr=env_addr("FILE_SERVICE_ADDR"),
            content_service_addr=env_dial_target("CONTENT_SERVICE_ADDR"),
            ingest=IngestPolicy(
                max_upload_bytes=env_int(
                    "FILE_MAX_UPLOAD_BYTES", 10 * _MIB, minimum=1, maximum=1 << 30
                ),
                registration_wait_s=env_float("FILE_REGISTRATION_WAIT_S", 5.0, minimum=0.0),
                max_files_per_essay=env_float(
                    "FILE_MAX_FILES_PER_ESSAY", 2.0, minimum=1.0, maximum=100.0
                ),
            ),
            limits=ExtractionLimits(
                min_words=min_words,
                max_words=max_words,
                docx=DocxLimits(
                    max_unzipped_bytes=env_int(
                        "FILE_DOCX_MAX_UNZIPPED_BYTES", 200 * _MIB, minimum=_MIB
                    )
                ),
            ),
            pool=PoolSettings(
                workers=env_int("FILE_EXTRACTION_WORKERS", 2, minimum=1, maximum=64),
                timeout_s=env_float("FILE_EXTRACTION_TIMEOUT_S", 20.0, minimum=0.1),
                memory_limit_bytes=env_int("FILE_EXTRACTION_MEMORY_MB", 1024, minimum=0) * _MIB,
            ),
            upload_concurrency=env_int("FILE_UPLOAD_CONCURRENCY", 32, minimum=1, maximum=256),
            log_level=env_str("LOG_LEVEL", "INFO"),
            nats=NatsSettings.from_env(),
            metrics=MetricsSettings.from_env("FILE_SERVICE_METRICS_ADDR"),
            shutdown_grace_s=env_float("FILE_SHUTDOWN_GRACE_S", 10.0, minimum=0.0, maximum=300.0),
        )


# The variables this service reads beyond SHARED_SETTINGS (services.mesh.settings), as
# docs/services.md lists them (written from here by `python -m devstack.settings_docs`).
DOCUMENTED: tuple[Documented, ...] = (
    Documented(
        "FILE_MAX_UPLOAD_BYTES",
        "`10485760`",
        "largest file accepted (keep ≤ `CONTENT_MAX_OBJECT_BYTES`)",
    ),
    Documented(
        "FILE_MIN_WORDS",
        "`25`",
        "fewer words: `CONTENT_TOO_SHORT`",
    ),
    Documented(
        "FILE_MAX_WORDS",
        "`10000`",
        "more words: `CONTENT_TOO_LONG`",
    ),
    Documented(
        "FILE_EXTRACTION_TIMEOUT_S",
        "`20`",
        "per-file extraction limit; the worker is killed and replaced after it",
    ),
    Documented(
        "FILE_EXTRACTION_WORKERS",
        "`2`",
        "extraction worker processes",
    ),
    Documented(
        "FILE_EXTRACTION_MEMORY_MB",
        "`1024`",
        "address-space limit per worker (0: none)",
    ),
    Documented(
        "FILE_DOCX_MAX_UNZIPPED_BYTES",
        "`209715200`",
        "a .docx expanding beyond this (or >100× its size past 10 MiB) is refused",
    ),
    Documented(
        "FILE_REGISTRATION_WAIT_S",
        "`5`",
        "how long an upload waits for its batch's registration",
    ),
    Documented(
        "FILE_UPLOAD_CONCURRENCY",
        "`32`",
        "files of one `UploadFiles` stream processed at once; a file counts once per started MiB, "
        "so about this many MiB of one stream's uploads are held at once",
    ),
    Documented(
        "FILE_MAX_FILES_PER_ESSAY",
        "`2`",
        (
            "different files a batch takes per essay (at least 10 more than its essays); more: "
            "`RESOURCE_EXHAUSTED`"
        ),
    ),
    Documented(
        "FILE_SHUTDOWN_GRACE_S",
        "`10`",
        "time uploads in flight get on SIGTERM",
    ),
    Documented(
        "FILE_SERVICE_METRICS_ADDR", "`127.0.0.1:9102`", "where Prometheus `/metrics` is served"
    ),
)
