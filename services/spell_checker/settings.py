"""Spell Checker settings, read once at start from the environment (docs/services.md has the table).

* `SPELL_CHECKER_ADDR` (`127.0.0.1:50055`): address of the health and reflection gRPC server.
* `CONTENT_SERVICE_ADDR` (`127.0.0.1:50051`): where essays are read and corrections stored (one
  address, or a comma-separated list of instances).
* `NATS_URL` and the other `NATS_*` settings of services.mesh.settings; `NATS_MAX_DELIVER` and
  `NATS_ACK_WAIT_S` also configure the `spell_checker` durable consumer.
* `SPELL_CHECKER_WORKERS` (number of cores): worker processes that check essays.
* `SPELL_CHECKER_IN_FLIGHT` (= workers): essays taken from the consumer at once.
* `SPELL_CHECKER_ENGINE` (`symspell`): `symspell` (the symmetric-delete index) or
  `pyspellchecker` (its own `correction()`, about a thousand times slower; for comparison).
* `SPELL_CHECKER_ALLOW_WORDS` (empty): comma-separated words never corrected, added to each
  request's `allowed_words`.
* `SPELL_CHECKER_PRELOAD_LANGUAGES` (`en`): languages every worker loads at start; others load
  on their first essay.
* `SPELL_CHECKER_DEFAULT_LANGUAGE` (`en`): language of a request whose `language` is empty.
* `SPELL_CHECKER_INDEX_CACHE_DIR` (`$XDG_CACHE_HOME/huleedu-mesh/spell-index`, else
  `~/.cache/...`): where the index files are kept.
* `SPELL_CHECKER_MEMO_SIZE` (`50000`): corrections remembered per worker and language.
* `SPELL_CHECKER_RETRY_DELAY_S` (`2.0`): delay before redelivering a request whose content
  could not be read or stored.
* `SPELL_CHECKER_SHUTDOWN_GRACE_S` (`5`): time the health server's calls get on SIGTERM (the
  essays in hand are finished first).
* `SPELL_CHECKER_METRICS_ADDR` (`127.0.0.1:9105`): where /metrics is served.
* `LOG_LEVEL` (`INFO`): level of the JSON log lines on stderr.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from services.mesh.metrics import METRICS_OFF, MetricsSettings
from services.mesh.settings import (
    NatsSettings,
    SettingsError,
    env_addr,
    env_dial_target,
    env_float,
    env_int,
    env_list,
    env_str,
)
from services.spell_checker.adapters.checkers import CheckerConfig, Engine
from services.spell_checker.domain.languages import SUPPORTED_LANGUAGES, UnsupportedLanguageError
from services.spell_checker.domain.languages import resolve_language as _resolve

SERVICE_NAME = "spell_checker"
# Requests taken at once per worker process, and the most essays checked as one group: requests
# fetched together are read, checked and stored together (one call per step instead of one per
# essay), while the workers always have the next group waiting.
IN_FLIGHT_PER_WORKER = 16
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
        supported = ", ".join(SUPPORTED_LANGUAGES)
        raise SettingsError(f"{name}={value!r} is not a supported language ({supported})") from None


def _language(name: str, default: str) -> str:
    return _checked_language(name, env_str(name, default))


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
            ),
            metrics=MetricsSettings.from_env("SPELL_CHECKER_METRICS_ADDR"),
            shutdown_grace_s=env_float(
                "SPELL_CHECKER_SHUTDOWN_GRACE_S", 5.0, minimum=0.0, maximum=300.0
            ),
        )
