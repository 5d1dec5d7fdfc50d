"""`huleedu trace BATCH_ID`: a batch's timeline from the event log, readable without a tracing
backend. Each event of the batch in stream order, the service that produced it
(`metadata.producer`) and the time since the batch's first event, then a summary per event type.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nats.js.errors import NotFoundError

from services.cli.endpoints import START_HINT
from services.cli.errors import EXIT_FAILED, EXIT_OK, CliError
from services.cli.retry import RetryHorizon
from services.cli.stream_view import EVENTS, NatsReads, close_quietly, connect, decode_entry


@dataclass(frozen=True)
class TimelineEvent:
    """One event of a batch on the stream."""

    seq: int
    at: datetime
    type: str
    producer: str
    detail: str


@dataclass(frozen=True)
class TimelineRow:
    """An event and its offset from the batch's first event."""

    event: TimelineEvent
    offset_s: float


def describe(fields: dict[str, Any]) -> str:
    """The few fields that say which essay or file an event is about."""
    parts = []
    for name in ("essay_id", "original_file_name", "status", "error_code", "reason", "phase"):
        value = fields.get(name)
        if value:
            parts.append(f"{name}={value}")
    for name in ("ready_essays", "essays", "processed_essays", "essay_ids", "results"):
        if fields.get(name):
            parts.append(f"{name}={len(fields[name])}")
    return " ".join(parts)


def timeline(events: Sequence[TimelineEvent]) -> list[TimelineRow]:
    """The events in stream order with their time since the first one."""
    ordered = sorted(events, key=lambda e: e.seq)
    if not ordered:
        return []
    start = ordered[0].at
    return [TimelineRow(e, (e.at - start).total_seconds()) for e in ordered]


def format_timeline(batch_id: str, rows: Sequence[TimelineRow]) -> str:
    """The timeline as aligned text, then one line per event type: count, first and last."""
    lines = [f"batch {batch_id}: {len(rows)} events over {rows[-1].offset_s:.3f} s"]
    width = max(len(r.event.type) for r in rows)
    for row in rows:
        e = row.event
        lines.append(
            f"  {f'+{row.offset_s:.3f}s':>10}  #{e.seq:<6} {e.type:<{width}}  "
            f"{e.producer or '?':<18} {e.detail}".rstrip()
        )
    lines.append("summary (count, first, last):")
    by_type: dict[str, list[float]] = {}
    for row in rows:
        by_type.setdefault(row.event.type, []).append(row.offset_s)
    for name, offsets in by_type.items():
        lines.append(
            f"  {name:<{width}}  {len(offsets):>4}  +{offsets[0]:.3f}s  +{offsets[-1]:.3f}s"
        )
    return "\n".join(lines)


async def batch_events(reads: NatsReads, batch_id: str) -> list[TimelineEvent]:
    """Every event of `batch_id` in HULEEDU_EVENTS, read message by message (no consumer)."""
    try:
        info = await reads.stream_info(EVENTS.stream)
    except NotFoundError:
        raise CliError(f"stream {EVENTS.stream} does not exist yet ({START_HINT})") from None
    found: list[TimelineEvent] = []
    sequence = max(1, info.state.first_seq)
    while sequence <= info.state.last_seq:
        try:
            message = await reads.get_msg(EVENTS.stream, seq=sequence, subject=EVENTS.subjects)
        except NotFoundError:
            break
        sequence = (message.seq or sequence) + 1
        entry = decode_entry(message, dead_letters=False)
        if entry.get("batch_id") != batch_id or message.time is None:
            continue
        found.append(
            TimelineEvent(
                seq=message.seq or 0,
                at=message.time,
                type=entry["type"],
                producer=entry.get("producer", ""),
                detail=describe(entry.get("fields", {})),
            )
        )
    return found


async def show_trace(nats_url: str, batch_id: str, *, as_json: bool, retries: RetryHorizon) -> int:
    """Print the batch's timeline; exit 1 when the log holds no event of the batch."""
    client, reads = await connect(nats_url, retries)
    try:
        rows = timeline(await batch_events(reads, batch_id))
    finally:
        await close_quietly(client)
    if not rows:
        print(f"no events of batch {batch_id} in {EVENTS.stream}")
        return EXIT_FAILED
    if as_json:
        for row in rows:
            e = row.event
            record = {
                "seq": e.seq,
                "offset_s": round(row.offset_s, 6),
                "time": e.at.isoformat(),
                "type": e.type,
                "producer": e.producer,
                "detail": e.detail,
            }
            print(json.dumps(record, ensure_ascii=False))
    else:
        print(format_timeline(batch_id, rows))
    return EXIT_OK
