"""What the durable consumers do, seen from outside the services: a plain NATS subscriber that
records the pull requests they send (`$JS.API.CONSUMER.MSG.NEXT...`), every answer they send
(`$JS.ACK...`: ack, nak, in progress, term) and, when asked, the messages JetStream delivers to
them (on `_INBOX.>`, where pull requests ask for their messages). An ack subject carries the
durable, the stream sequence and the delivery count, so redeliveries, and the messages a service
holds at a given moment, can be counted without asking the service."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from services.mesh.streams import EVENTS_STREAM

FINAL = frozenset({"ack", "nak", "term"})


@dataclass(frozen=True)
class Seen:
    """A delivery (kind "delivery") or an answer to one (ack, nak, wpi, term), identified by
    durable, stream sequence and delivery count; `at` is when the observer saw it (monotonic)."""

    at: float
    durable: str
    stream_seq: int
    delivered: int
    kind: str


def parse_ack_subject(subject: str) -> tuple[str, int, int]:
    """(durable, stream seq, delivery count) of a `$JS.ACK` subject: `$JS.ACK.<stream>.<durable>.
    <delivered>.<stream seq>.<consumer seq>.<ts>.<pending>`, or the v2 form with
    `<domain>.<account hash>` after ACK and a token at the end."""
    tokens = subject.split(".")
    base = 2 if len(tokens) == 9 else 4
    return tokens[base + 1], int(tokens[base + 3]), int(tokens[base + 2])


def answer_kind(data: bytes) -> str:
    """ack, nak, wpi, term or next, from an answer's body."""
    body = data.strip()
    if body in (b"", b"+ACK"):
        return "ack"
    for prefix, kind in ((b"-NAK", "nak"), (b"+WPI", "wpi"), (b"+TERM", "term"), (b"+NXT", "next")):
        if body.startswith(prefix):
            return kind
    return body.decode(errors="replace")


class AckObserver:
    """Pull requests and answers of HULEEDU_EVENTS' durable consumers, and their deliveries while
    `watch_deliveries` is on; reconnects across nats-server restarts (what happens while it is
    down is not seen).

    Watching deliveries means subscribing to `_INBOX.>`, which gives every inbox an interest:
    JetStream then keeps serving a pull request whose requester has gone away, which it would
    otherwise drop. So deliveries are watched only while that cannot matter (before a stop).
    """

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.pulls: list[tuple[float, str]] = []  # (at, durable)
        self._ack_prefix = f"$JS.ACK.{EVENTS_STREAM}."
        self._client: Client | None = None
        self._deliveries: Subscription | None = None

    async def start(self, url: str) -> None:
        """Connect and subscribe to answers and pull requests."""
        self._client = await nats.connect(
            url,
            name="chaos-observer",
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.2,
            pending_size=64 * 1024 * 1024,
        )
        await self._client.subscribe(f"{self._ack_prefix}>", cb=self._on_answer)
        await self._client.subscribe(
            f"$JS.API.CONSUMER.MSG.NEXT.{EVENTS_STREAM}.>", cb=self._on_pull
        )
        await self._client.flush()

    async def watch_deliveries(self) -> None:
        """Record deliveries from now on."""
        assert self._client is not None
        self._deliveries = await self._client.subscribe("_INBOX.>", cb=self._on_inbox)
        await self._client.flush()

    async def stop_watching_deliveries(self) -> None:
        """Stop recording deliveries (and stop lending inboxes an interest)."""
        if self._deliveries is not None:
            await self._deliveries.unsubscribe()
            self._deliveries = None

    async def stop(self) -> None:
        """Disconnect."""
        if self._client is not None:
            await self._client.close()

    async def _on_answer(self, msg: Msg) -> None:
        durable, seq, delivered = parse_ack_subject(msg.subject)
        self.seen.append(Seen(time.monotonic(), durable, seq, delivered, answer_kind(msg.data)))

    async def _on_pull(self, msg: Msg) -> None:
        self.pulls.append((time.monotonic(), msg.subject.rsplit(".", 1)[1]))

    async def _on_inbox(self, msg: Msg) -> None:
        # Every reply on the account passes here (API answers, KV and Object Store reads...);
        # a delivery of the event stream is the one whose reply subject is its ack subject.
        if not (msg.reply or "").startswith(self._ack_prefix):
            return
        durable, seq, delivered = parse_ack_subject(msg.reply)
        self.seen.append(Seen(time.monotonic(), durable, seq, delivered, "delivery"))

    # ------------------------------------------------------------------ questions

    def answers(self, durable: str | None = None) -> list[Seen]:
        """Every answer (not deliveries) of the durable, or of all."""
        return [s for s in self.seen if s.kind != "delivery" and durable in (None, s.durable)]

    def first_ack_after(self, durable: str, since: float) -> float | None:
        """When the durable's first ack after `since` was sent."""
        return next((s.at for s in self.answers(durable) if s.kind == "ack" and s.at > since), None)

    def unexplained_redeliveries(self, durable: str | None = None) -> dict[tuple[str, int], int]:
        """Messages delivered again without having been nak'ed: (durable, stream seq) → the
        highest delivery count seen. Such a delivery means an earlier one got no answer (its
        holder died, or stopped without finishing) or its answer was lost."""
        by_message: dict[tuple[str, int], list[Seen]] = defaultdict(list)
        for seen in self.seen:
            if durable in (None, seen.durable):
                by_message[(seen.durable, seen.stream_seq)].append(seen)
        found = {}
        for key, events in by_message.items():
            naked = {s.delivered for s in events if s.kind == "nak"}
            if any(s.delivered > 1 and s.delivered - 1 not in naked for s in events):
                found[key] = max(s.delivered for s in events)
        return found

    def pulls_between(self, durable: str, after: float, before: float) -> list[float]:
        """When the durable's pull requests in (after, before] were sent."""
        return [at for at, d in self.pulls if d == durable and after < at <= before]

    def deliveries(
        self, durable: str, *, after: float = 0.0, before: float = math.inf
    ) -> list[Seen]:
        """The durable's deliveries in (after, before]."""
        return [
            s
            for s in self.seen
            if s.kind == "delivery" and s.durable == durable and after < s.at <= before
        ]

    def in_hand(self, durable: str, at: float) -> list[Seen]:
        """The durable's deliveries not answered (ack, nak or term) by time `at`."""
        answered = {
            (s.stream_seq, s.delivered)
            for s in self.seen
            if s.kind in FINAL and s.durable == durable and s.at <= at
        }
        return [
            s
            for s in self.deliveries(durable, before=at)
            if (s.stream_seq, s.delivered) not in answered
        ]

    def answer_to(self, delivery: Seen) -> Seen | None:
        """The final answer (ack, nak or term) to this very delivery, if one was sent."""
        return next(
            (
                s
                for s in self.seen
                if s.kind in FINAL
                and (s.durable, s.stream_seq, s.delivered)
                == (delivery.durable, delivery.stream_seq, delivery.delivered)
            ),
            None,
        )
