"""Prometheus metrics from the shared runtime, read over HTTP as Prometheus would."""

from __future__ import annotations

import urllib.request

from nats.aio.client import Client
from nats.js import JetStreamContext

from huleedu.events.v1 import events_pb2
from services.mesh.consumer import Delivery, EventConsumer, TransientError
from services.mesh.event_ids import new_metadata
from services.mesh.metrics import MetricsSettings, start_metrics_server
from services.mesh.publisher import EventPublisher
from services.mesh.streams import ConsumerSpec
from tests.support import unique, wait_until


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


async def test_handled_events_are_counted_by_type_and_outcome(
    nats_js: tuple[Client, JetStreamContext],
) -> None:
    _, js = nats_js
    port = start_metrics_server(MetricsSettings(enabled=True, addr="127.0.0.1:0"))
    assert port is not None
    subject = f"huleedu.test.{unique('m').replace('-', '_')}.v1"
    durable = unique("metrics").replace("-", "_")
    seen: list[int] = []

    async def handler(event: events_pb2.BatchEssaysRegistered, delivery: Delivery) -> None:
        seen.append(delivery.num_delivered)
        if delivery.num_delivered == 1:
            raise TransientError("once", delay_s=0.1)

    consumer = EventConsumer(
        js,
        ConsumerSpec(durable=durable, filter_subjects=[subject]),
        {events_pb2.BatchEssaysRegistered: handler},
        service="test",
    )
    await consumer.start()
    try:
        event = events_pb2.BatchEssaysRegistered(
            metadata=new_metadata("test", correlation_id="c"), batch_id="b"
        )
        await EventPublisher(js, "test").publish(event, subject=subject)
        await wait_until(lambda: seen == [1, 2], message="two deliveries")
        labels = f'consumer="{durable}",event_type="BatchEssaysRegistered"'

        def scraped_after_ack() -> str | None:
            body = scrape(port)
            return body if f"huleedu_event_handler_seconds_count{{{labels}}} 2.0" in body else None

        text = await wait_until(scraped_after_ack, message="both deliveries timed")
    finally:
        await consumer.stop()
    assert f'huleedu_events_handled_total{{{labels},outcome="ack"}} 1.0' in text
    assert f'huleedu_events_handled_total{{{labels},outcome="nak"}} 1.0' in text
    assert f"huleedu_event_handler_seconds_count{{{labels}}} 2.0" in text
    assert "batch_id" not in text.replace("# HELP", "")
