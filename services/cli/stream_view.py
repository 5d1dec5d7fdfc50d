"""`huleedu events` and `huleedu dlq`: the stored messages of HULEEDU_EVENTS or HULEEDU_DLQ,
decoded from protobuf by their `Huleedu-Type` header. Messages are read one by one with the
stream's get-message API, so reading creates no consumer on the server."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import nats
import nats.errors
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import DecodeError
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg, StreamInfo
from nats.js.errors import NotFoundError

from services.cli.endpoints import START_HINT
from services.cli.errors import EXIT_OK, EXIT_UNREACHABLE, CliError, ServiceUnavailable
from services.cli.retry import RetryHorizon
from services.mesh.dead_letters import (
    HEADER_DLQ_CONSUMER,
    HEADER_DLQ_DELIVERIES,
    HEADER_DLQ_REASON,
    HEADER_DLQ_STREAM_SEQ,
    HEADER_DLQ_SUBJECT,
)
from services.mesh.outage import is_unavailable
from services.mesh.publisher import HEADER_TYPE
from services.mesh.settings import inbox_prefix, redact_url
from services.mesh.streams import DLQ_STREAM, EVENTS_STREAM
from services.mesh.subjects import DLQ_PREFIX, EVENTS_SUBJECTS, message_type_for
from services.mesh.tls import nats_tls_context

_POLL_S = 0.5
_NATS = "NATS"
T = TypeVar("T")


@dataclass(frozen=True)
class StreamView:
    """Which stream to read and how its messages are shown."""

    stream: str
    subjects: str
    dead_letters: bool


EVENTS = StreamView(EVENTS_STREAM, EVENTS_SUBJECTS, dead_letters=False)
DEAD_LETTERS = StreamView(DLQ_STREAM, f"{DLQ_PREFIX}{EVENTS_SUBJECTS}", dead_letters=True)

_DLQ_HEADERS = {
    "reason": HEADER_DLQ_REASON,
    "consumer": HEADER_DLQ_CONSUMER,
    "original_subject": HEADER_DLQ_SUBJECT,
    "original_seq": HEADER_DLQ_STREAM_SEQ,
    "deliveries": HEADER_DLQ_DELIVERIES,
}


def decode_entry(message: RawStreamMsg, *, dead_letters: bool) -> dict[str, Any]:
    """A stored message as data: sequence, time, subject, type, the decoded fields (or why they
    could not be decoded) and, for the DLQ, the reason headers."""
    headers: Mapping[str, str] = message.headers or {}
    type_name = headers.get(HEADER_TYPE, "")
    entry: dict[str, Any] = {
        "seq": message.seq,
        "time": _time_text(message.time),
        "subject": message.subject or "",
        "type": type_name.rsplit(".", 1)[-1] or "(no Huleedu-Type)",
    }
    message_type = message_type_for(type_name)
    data = message.data or b""
    if message_type is None:
        entry["undecoded"] = f"unknown type {type_name!r}; {len(data)} bytes: {data[:48].hex()}"
    else:
        try:
            event = message_type.FromString(data)
        except DecodeError as error:
            entry["undecoded"] = f"cannot decode as {type_name} ({error}); {len(data)} bytes"
        else:
            fields = MessageToDict(event, preserving_proto_field_name=True)
            metadata = fields.pop("metadata", {})
            entry["producer"] = metadata.get("producer", "")
            entry["batch_id"] = fields.get("batch_id", "")
            entry["fields"] = fields
            entry["metadata"] = metadata
    if dead_letters:
        entry["dlq"] = {key: headers.get(name, "") for key, name in _DLQ_HEADERS.items()}
    return entry


def format_entry(entry: Mapping[str, Any]) -> str:
    """An entry as two or three lines: what and when, the fields, and for the DLQ why."""
    producer = f"  from {entry['producer']}" if entry.get("producer") else ""
    lines = [f"{entry['time']}  #{entry['seq']}  {entry['subject']}  {entry['type']}{producer}"]
    if "fields" in entry:
        lines.append("    " + json.dumps(entry["fields"], ensure_ascii=False))
    else:
        lines.append(f"    ({entry['undecoded']})")
    if "dlq" in entry:
        dlq = entry["dlq"]
        lines.append(
            f"    dead-lettered by {dlq['consumer'] or '?'} after {dlq['deliveries'] or '?'} "
            f"deliveries (was #{dlq['original_seq'] or '?'} on {dlq['original_subject'] or '?'}):"
            f" {dlq['reason']}"
        )
    return "\n".join(lines)


def _time_text(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class NatsReads:
    """The JetStream reads of `events`, `dlq` and `trace`, asked again while NATS does not answer
    (a broker restart) until the retry horizon; one line tells the user, as for the services."""

    def __init__(self, js: JetStreamContext, retries: RetryHorizon) -> None:
        self._js = js
        self._retries = retries

    async def stream_info(self, stream: str) -> StreamInfo:
        """The stream's info (NotFoundError when it does not exist)."""
        return await self._again(lambda: self._js.stream_info(stream))

    async def get_msg(self, stream: str, *, seq: int, subject: str) -> RawStreamMsg:
        """The first message at or after `seq` on `subject` (NotFoundError when none)."""
        return await self._again(
            lambda: self._js.get_msg(stream, seq=seq, subject=subject, next=True)
        )

    async def _again(self, call: Callable[[], Awaitable[T]]) -> T:
        failures = 0
        while True:
            try:
                result = await call()
            except (nats.errors.Error, OSError) as error:
                if not is_unavailable(error):
                    raise
                reason = f"NATS unavailable ({error!r})"
                if not await self._retries.wait_to_retry(_NATS, reason, failures):
                    raise ServiceUnavailable(self._retries.gave_up(reason)).with_hint(
                        "run the same command again once it answers"
                    ) from None
                failures += 1
                continue
            self._retries.answered(_NATS)
            return result


async def connect(nats_url: str, retries: RetryHorizon) -> tuple[Client, NatsReads]:
    """Connect: a NATS that is not there at all is reported at once (a stack not started); one
    lost later is reconnected to while the reads ask again."""

    async def quiet(error: Exception) -> None:
        """nats-py prints a traceback per failed attempt unless given an error callback."""

    try:
        client = await nats.connect(
            servers=nats_url.split(","),
            name="huleedu-cli",
            allow_reconnect=True,
            max_reconnect_attempts=1,
            reconnect_time_wait=0.2,
            connect_timeout=3,
            error_cb=quiet,
            tls=nats_tls_context(),
            inbox_prefix=inbox_prefix(urlsplit(nats_url.split(",", maxsplit=1)[0]).username),
        )
    except (nats.errors.NoServersError, OSError, TimeoutError, nats.errors.Error):
        raise CliError(
            f"cannot reach NATS at {redact_url(nats_url)}: {START_HINT} (or set NATS_URL)",
            EXIT_UNREACHABLE,
        ) from None
    # Connected once: from now on reconnect for as long as the reads go on asking.
    client.options["max_reconnect_attempts"] = -1
    return client, NatsReads(client.jetstream(timeout=5), retries)


async def close_quietly(client: Client) -> None:
    """Close the connection; one that is lost raises on the way out, which says nothing more."""
    with contextlib.suppress(nats.errors.Error, OSError):
        await client.close()


async def show_stream(
    nats_url: str,
    view: StreamView,
    *,
    batch_id: str | None,
    follow: bool,
    last: int | None,
    as_json: bool,
    retries: RetryHorizon,
) -> int:
    """Print the stream's messages, oldest first; with `follow`, keep printing new ones."""
    client, reads = await connect(nats_url, retries)
    try:
        try:
            info = await reads.stream_info(view.stream)
        except NotFoundError:
            raise CliError(
                f"stream {view.stream} does not exist yet: the services create it when they "
                f"start ({START_HINT})"
            ) from None
        state = info.state
        sequence = max(1, state.first_seq)
        if last is not None:
            sequence = max(state.first_seq, state.last_seq - last + 1)
        shown = 0
        while True:
            try:
                message = await reads.get_msg(view.stream, seq=sequence, subject=view.subjects)
            except NotFoundError:
                if not follow:
                    break
                await asyncio.sleep(_POLL_S)
                continue
            sequence = (message.seq or sequence) + 1
            entry = decode_entry(message, dead_letters=view.dead_letters)
            if batch_id is not None and entry.get("batch_id") != batch_id:
                continue
            shown += 1
            if as_json:
                print(json.dumps(entry, ensure_ascii=False), flush=True)
            else:
                print(format_entry(entry), flush=True)
        if shown == 0 and not as_json:
            about = f" for batch {batch_id}" if batch_id else ""
            print(f"no messages in {view.stream}{about}")
    finally:
        await close_quietly(client)
    return EXIT_OK
