"""JSON logging with the ids of the work in hand."""

from __future__ import annotations

import json
import logging

from services.mesh.logging import JsonFormatter, log_context


def render(record: logging.LogRecord) -> dict[str, object]:
    return dict(json.loads(JsonFormatter("test_service").format(record)))


def make_record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord({"msg": message, "levelname": "INFO", "name": "t"})
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_context_ids_are_added_and_removed() -> None:
    with log_context(correlation_id="c1", batch_id="b1"):
        with log_context(essay_id="e1"):
            inner = render(make_record("inner"))
        outer = render(make_record("outer"))
    after = render(make_record("after"))
    assert inner["correlation_id"] == "c1"
    assert inner["batch_id"] == "b1"
    assert inner["essay_id"] == "e1"
    assert "essay_id" not in outer
    assert outer["batch_id"] == "b1"
    assert "batch_id" not in after


def test_extras_and_service_are_fields() -> None:
    line = render(make_record("hello", subject="huleedu.x", count=3))
    assert line["service"] == "test_service"
    assert line["message"] == "hello"
    assert line["subject"] == "huleedu.x"
    assert line["count"] == 3
