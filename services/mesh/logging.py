"""JSON logging that carries the batch, essay and correlation ids of the work in hand."""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

_CONTEXT_FIELDS = ("correlation_id", "batch_id", "essay_id")
_context: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar(
    "huleedu_log_context", default=()
)
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, service, logger, message, context and extras."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(dict(_context.get()))
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every log record to stderr as JSON lines tagged with the service name."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


@contextlib.contextmanager
def log_context(
    correlation_id: str | None = None, batch_id: str | None = None, essay_id: str | None = None
) -> Iterator[None]:
    """Add the given ids to every log record written inside the block."""
    given = dict(zip(_CONTEXT_FIELDS, (correlation_id, batch_id, essay_id), strict=True))
    merged = {**dict(_context.get()), **{key: value for key, value in given.items() if value}}
    token = _context.set(tuple(merged.items()))
    try:
        yield
    finally:
        _context.reset(token)
