"""After one batch through the running stack: every service's /metrics shows its `huleedu_`
metrics (shared and domain ones, no id labels), and `huleedu trace` shows the batch's timeline."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.mesh.metrics import DEFAULT_METRICS_ADDRS
from tests.e2e.conftest import SAMPLE_CLASS, E2EStack, huleedu, submit_json

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def batch(stack: E2EStack) -> dict[str, Any]:
    """The sample class, submitted once for this module."""
    return submit_json(stack, SAMPLE_CLASS)


def scrape(stack: E2EStack, variable: str) -> Samples:
    """The samples of a service's /metrics, keyed by name and labels."""
    with urllib.request.urlopen(f"http://{stack.addr(variable)}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def poll(read: Callable[[], Samples], ok: Callable[[Samples], bool], timeout_s: float) -> Samples:
    """Scrape until `ok` (gauges from KV watches lag the batch by a moment)."""
    deadline = time.monotonic() + timeout_s
    while True:
        samples = read()
        if ok(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.2)


def test_every_service_serves_its_metrics_after_a_batch(
    stack: E2EStack, batch: dict[str, Any]
) -> None:
    if stack.external:
        pytest.skip("the compose stack's metrics ports are scraped by Prometheus, not the host")
    assert batch["status"] == "COMPLETED_WITH_FAILURES"
    everything: dict[str, Samples] = {}
    for variable in DEFAULT_METRICS_ADDRS:
        everything[variable] = scrape(stack, variable)
        names = {name for name, _ in everything[variable]}
        assert any(name.startswith("huleedu_") for name in names), variable
        for _, labels in everything[variable]:
            assert not {"batch_id", "essay_id", "correlation_id"} & {k for k, _ in labels}

    content = everything["CONTENT_SERVICE_METRICS_ADDR"]
    # The File Service stores a stream's files with BatchPutContent; other clients use PutContent.
    puts = [f"/huleedu.content.v1.ContentService/{m}" for m in ("PutContent", "BatchPutContent")]
    assert (
        sum(value(content, "huleedu_grpc_requests_total", method=m, code="OK") for m in puts) >= 1
    )

    files = everything["FILE_SERVICE_METRICS_ADDR"]
    assert value(files, "huleedu_extraction_failures_total") >= 1  # the sample's broken file
    assert value(files, "huleedu_events_handled_total", consumer="file_service") >= 1

    bos = poll(
        lambda: scrape(stack, "BATCH_ORCHESTRATOR_METRICS_ADDR"),
        lambda s: value(s, "huleedu_batches", state="COMPLETED_WITH_FAILURES") >= 1,
        timeout_s=20,
    )
    assert value(bos, "huleedu_batches", state="COMPLETED_WITH_FAILURES") >= 1
    assert value(bos, "huleedu_events_handled_total", consumer="bos", outcome="ack") >= 1
    assert ("huleedu_consumer_pending_messages", frozenset({("consumer", "bos")})) in bos

    # The census reads changed batches every 2 s: another test's batch may be counted already
    # and this one's failed essay not yet, so wait for both states.
    els = poll(
        lambda: scrape(stack, "ESSAY_LIFECYCLE_METRICS_ADDR"),
        lambda s: (
            value(s, "huleedu_essays", state="SPELLCHECKED_SUCCESS") >= 1
            and value(s, "huleedu_essays", state="VALIDATION_FAILED") >= 1
        ),
        timeout_s=20,
    )
    assert value(els, "huleedu_essays", state="SPELLCHECKED_SUCCESS") >= 1
    assert value(els, "huleedu_essays", state="VALIDATION_FAILED") >= 1
    assert value(els, "huleedu_slot_assignments_total", outcome="assigned") >= 1
    assert value(els, "huleedu_slot_assignments_total", outcome="validation_failed") >= 1

    spell = everything["SPELL_CHECKER_METRICS_ADDR"]
    assert value(spell, "huleedu_spellcheck_corrections_total") >= 1
    assert value(spell, "huleedu_spellcheck_essay_seconds_count") >= 1
    assert value(spell, "huleedu_events_handled_total", consumer="spell_checker") >= 1


def test_trace_shows_the_batch_timeline(stack: E2EStack, batch: dict[str, Any]) -> None:
    result = huleedu(stack, "trace", batch["batch_id"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"batch {batch['batch_id']}: ")
    first = lines[1].split()
    assert first[0] == "+0.000s" and first[2] == "BatchEssaysRegistered"
    assert first[3] == "batch_orchestrator"
    for event, producer in (
        ("EssayContentProvisioned", "file_service"),
        ("EssayValidationFailed", "file_service"),
        ("BatchEssaysReady", "essay_lifecycle"),
        ("SpellcheckGroupCompleted", "spell_checker"),
        ("ELSBatchPhaseOutcome", "essay_lifecycle"),
    ):
        assert any(f" {event} " in line and producer in line for line in lines), event
    assert "summary (count, first, last):" in lines


def test_trace_of_an_unknown_batch_says_so(stack: E2EStack) -> None:
    result = huleedu(stack, "trace", "no-such-batch")
    assert result.returncode == 1
    assert "no events of batch no-such-batch" in result.stdout
