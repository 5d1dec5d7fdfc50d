"""Spell Checker settings, read once at start from the environment: DOCUMENTED (below) lists
each one, and docs/services.md shows that list (python -m devstack.settings_docs)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from services.mesh.metrics import METRICS_OFF, MetricsSettings
from services.mesh.settings import (
    Documented,
    NatsSettings,
    SettingsError,
    env_addr,
    env_dial_target,
    env_float,
    env_int,
    env_list,
    env_str,
)
from services.spell_checker.adapters.checkers import BRITISH_WORDS, CheckerConfig, Engine
from services.spell_checker.domain.languages import SUPPORTED_TAGS, UnsupportedLanguageError
from services.spell_checker.domain.languages import resolve_language as _resolve

SERVICE_NAME = "spell_checker"
# Requests taken at once per worker process, and the most essays checked as one group: requests
# fetched together are read, checked and stored together (one call per step instead of one per
# essay), while the workers always have the next group waiting.
IN_FLIGHT_PER_WORKER = 64
MAX_GROUP = 16


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "huleedu-mesh" / "spell-index"


def _engine(name: str) -> Engine:
    value = env_str(name, Engine.SYMSPELL.value).lower()
    try:
        return Engine(value)
    except ValueError:
        choices = ", ".join(e.value for e in Engine)
        raise SettingsError(f"{name}={value!r} is not an engine ({choices})") from None


def _checked_language(name: str, value: str) -> str:
    try:
        return _resolve(value, value)
    except UnsupportedLanguageError:
        supported = ", ".join(SUPPORTED_TAGS)
        raise SettingsError(f"{name}={value!r} is not a supported language ({supported})") from None


def _language(name: str, default: str) -> str:
    return _checked_language(name, env_str(name, default))


def _optional_path(name: str, default: Path) -> Path | None:
    """`default` when unset, None when set to `none`, else the path given."""
    value = env_str(name, str(default))
    return None if value.lower() == "none" else Path(value)


def _languages(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_checked_language(name, v) for v in env_list(name, default)))


@dataclass(frozen=True)
class SpellCheckerSettings:
    """Everything the Spell Checker reads from its environment."""

    addr: str
    content_addr: str
    nats: NatsSettings
    workers: int
    in_flight: int
    max_group: int
    default_language: str
    retry_delay_s: float
    log_level: str
    checker: CheckerConfig
    metrics: MetricsSettings = METRICS_OFF  # from_env() turns it on; in-process tests do not
    shutdown_grace_s: float = 5.0

    @classmethod
    def from_env(cls) -> SpellCheckerSettings:
        """Read the settings; a malformed value raises SettingsError naming the variable."""
        workers = env_int("SPELL_CHECKER_WORKERS", os.cpu_count() or 1, minimum=1, maximum=256)
        return cls(
            addr=env_addr("SPELL_CHECKER_ADDR"),
            content_addr=env_dial_target("CONTENT_SERVICE_ADDR"),
            nats=NatsSettings.from_env(),
            workers=workers,
            in_flight=env_int(
                "SPELL_CHECKER_IN_FLIGHT", IN_FLIGHT_PER_WORKER * workers, minimum=1, maximum=1024
            ),
            max_group=env_int("SPELL_CHECKER_MAX_GROUP", MAX_GROUP, minimum=1, maximum=100),
            default_language=_language("SPELL_CHECKER_DEFAULT_LANGUAGE", "en"),
            retry_delay_s=env_float("SPELL_CHECKER_RETRY_DELAY_S", 2.0, minimum=0.0),
            log_level=env_str("LOG_LEVEL", "INFO"),
            checker=CheckerConfig(
                engine=_engine("SPELL_CHECKER_ENGINE"),
                index_cache_dir=Path(
                    env_str("SPELL_CHECKER_INDEX_CACHE_DIR", str(_default_cache_dir()))
                ),
                allowed_words=env_list("SPELL_CHECKER_ALLOW_WORDS"),
                memo_size=env_int("SPELL_CHECKER_MEMO_SIZE", 50_000, minimum=0),
                preload_languages=_languages("SPELL_CHECKER_PRELOAD_LANGUAGES", ("en",)),
                british_words=_optional_path("SPELL_CHECKER_BRITISH_WORDS", BRITISH_WORDS),
            ),
            metrics=MetricsSettings.from_env("SPELL_CHECKER_METRICS_ADDR"),
            shutdown_grace_s=env_float(
                "SPELL_CHECKER_SHUTDOWN_GRACE_S", 5.0, minimum=0.0, maximum=300.0
            ),
        )


# The variables this service reads beyond SHARED_SETTINGS (services.mesh.settings), as
# docs/services.md lists them (written from here by `python -m devstack.settings_docs`).
DOCUMENTED: tuple[Documented, ...] = (
    Documented(
        "SPELL_CHECKER_ADDR",
        "`127.0.0.1:50055`",
        "gRPC health/reflection server address (port 0: any free port)",
    ),
    Documented(
        "CONTENT_SERVICE_ADDR",
        "`127.0.0.1:50051`",
        "where essays are read and corrected texts stored",
    ),
    Documented(
        "SPELL_CHECKER_WORKERS",
        "number of cores",
        "worker processes that check essays",
    ),
    Documented(
        "SPELL_CHECKER_IN_FLIGHT",
        "64 × `SPELL_CHECKER_WORKERS`",
        "requests taken from the consumer at once (a group of essays is one; long ones get "
        "`in_progress`): enough that the workers always have a group queued while others are "
        "read and stored",
    ),
    Documented(
        "SPELL_CHECKER_MAX_GROUP",
        "16",
        "most essays read, checked and stored as one group (1: one by one)",
    ),
    Documented(
        "SPELL_CHECKER_ENGINE",
        "`symspell`",
        "`symspell` (the index) or `pyspellchecker` (`correction()` itself, ~600× slower)",
    ),
    Documented(
        "SPELL_CHECKER_ALLOW_WORDS",
        "empty",
        "comma-separated words never corrected, added to each request's `allowed_words`",
    ),
    Documented(
        "SPELL_CHECKER_BRITISH_WORDS",
        "`/usr/share/dict/british-english`",
        "British word list (Debian's `wbritish`) whose spellings `en` accepts as written "
        "(colour, centre, organise), and whose capitalised words English fixes take "
        "(`Brazilian`); `none`: American only. A missing list stops the start",
    ),
    Documented(
        "SPELL_CHECKER_PRELOAD_LANGUAGES",
        "`en`",
        "languages every worker loads at start, e.g. `en,sv` (others load on their first "
        "essay: about 0.2 s for `en`, 1 s for `sv`)",
    ),
    Documented(
        "SPELL_CHECKER_DEFAULT_LANGUAGE",
        "`en`",
        "language of a request whose `language` is empty",
    ),
    Documented(
        "SPELL_CHECKER_INDEX_CACHE_DIR",
        "`$XDG_CACHE_HOME/huleedu-mesh/spell-index` (else `~/.cache/…`)",
        "where index files are kept",
    ),
    Documented(
        "SPELL_CHECKER_MEMO_SIZE",
        "`50000`",
        "corrections remembered per worker and language",
    ),
    Documented(
        "SPELL_CHECKER_RETRY_DELAY_S",
        "`2.0`",
        (
            "delay before a request whose content was not found is redelivered (a Content Service "
            "that does not answer is waited for instead: `DEPENDENCY_RETRY_HORIZON_S`)"
        ),
    ),
    Documented(
        "LOG_LEVEL",
        "`INFO`",
        "JSON log level (one `essay checked` line per essay at INFO)",
    ),
    Documented(
        "SPELL_CHECKER_METRICS_ADDR",
        "`127.0.0.1:9105`",
        "Prometheus `/metrics`",
    ),
    Documented(
        "SPELL_CHECKER_SHUTDOWN_GRACE_S",
        "`5`",
        "time the health server's calls get on SIGTERM (the essays in hand are finished first)",
    ),
)
