"""The dead-letter queue: a message no handler could process is copied to `dlq.<subject>` with
why, by whom and from where in its headers (`huleedu dlq` shows them), before it is terminated.
A JetStream max-deliveries advisory names a message whose handlers died without an answer; it is
read back from the stream and copied the same way."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from nats.js import JetStreamContext

from services.mesh import subjects
from services.mesh.publisher import HEADER_MSG_ID

log = logging.getLogger(__name__)

HEADER_DLQ_REASON = "Huleedu-Dlq-Reason"
HEADER_DLQ_CONSUMER = "Huleedu-Dlq-Consumer"
HEADER_DLQ_SUBJECT = "Huleedu-Dlq-Original-Subject"
HEADER_DLQ_STREAM_SEQ = "Huleedu-Dlq-Stream-Seq"
HEADER_DLQ_DELIVERIES = "Huleedu-Dlq-Deliveries"
MAX_DELIVERIES_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.{durable}"


@dataclass(frozen=True)
class DeadLetter:
    """One message on its way to the DLQ."""

    subject: str
    data: bytes
    original_headers: Mapping[str, str]
    stream_seq: int
    deliveries: int
    reason: str


async def copy_to_dlq(
    js: JetStreamContext, letter: DeadLetter, *, stream: str, durable: str, service: str
) -> None:
    """Publish the message to `dlq.<subject>`. Its id derives from the stream, the durable and
    the sequence, so a copy made twice (a redelivery, the advisory) is stored once."""
    headers = {k: v for k, v in letter.original_headers.items() if not k.startswith("Nats-")}
    headers.update(
        {
            HEADER_MSG_ID: f"dlq:{stream}:{durable}:{letter.stream_seq}",
            HEADER_DLQ_REASON: letter.reason[:1000],
            HEADER_DLQ_CONSUMER: f"{service}/{durable}",
            HEADER_DLQ_SUBJECT: letter.subject,
            HEADER_DLQ_STREAM_SEQ: str(letter.stream_seq),
            HEADER_DLQ_DELIVERIES: str(letter.deliveries),
        }
    )
    await js.publish(subjects.dlq_subject(letter.subject), letter.data, headers=headers)
    log.error(
        "message moved to DLQ",
        extra={"subject": letter.subject, "reason": letter.reason, "stream_seq": letter.stream_seq},
    )


async def unanswered_message(js: JetStreamContext, stream: str, advisory_data: bytes) -> DeadLetter:
    """The message a max-deliveries advisory names, read back from the stream."""
    body = json.loads(advisory_data)
    stream_seq = int(body["stream_seq"])
    deliveries = int(body.get("deliveries", 0))
    stored = await js.get_msg(stream, seq=stream_seq)
    return DeadLetter(
        subject=stored.subject or "",
        data=stored.data or b"",
        original_headers=dict(stored.headers or {}),
        stream_seq=stream_seq,
        deliveries=deliveries,
        reason=f"ran out of deliveries ({deliveries}) without an answer",
    )
