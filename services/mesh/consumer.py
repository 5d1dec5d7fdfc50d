"""The one consumer runner: a durable pull consumer whose messages are decoded by type and handed
to handlers with bounded concurrency, with ack, nak(delay), DLQ and graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import nats.errors
import nats.js.errors
from google.protobuf.message import DecodeError, Message
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from opentelemetry.trace import SpanKind

from services.mesh import subjects, tracing
from services.mesh.dead_letters import (
    MAX_DELIVERIES_ADVISORY,
    DeadLetter,
    copy_to_dlq,
    unanswered_message,
)
from services.mesh.fetch_health import FetchHealth
from services.mesh.lifecycle import cancel_and_wait
from services.mesh.logging import log_context
from services.mesh.metrics import (
    CONSUMER_ACK_PENDING,
    CONSUMER_DEPENDENCY_WAITS,
    CONSUMER_FETCH_FAILURES,
    CONSUMER_PENDING,
    CONSUMER_REDELIVERED,
    CONSUMER_STALLED,
    EVENTS_HANDLED,
    HANDLER_SECONDS,
)
from services.mesh.nats_internals import connection_of, subscription_of, withdraw_interest
from services.mesh.outage import DependencyWait, is_unavailable, wait_or_stop
from services.mesh.publisher import HEADER_CORRELATION, HEADER_TYPE
from services.mesh.settings import NatsSettings
from services.mesh.streams import ConsumerSpec, ProvisioningError, ensure_consumer

log = logging.getLogger(__name__)

_FETCH_TIMEOUT_S = 1.0
_STATE_INTERVAL_S = 5.0
_REPROVISION_TIMEOUT_S = 5.0
# A message that has waited this long for an unavailable dependency makes the service answer
# NOT_SERVING until it is handled: the outage is no longer a blip.
DEPENDENCY_WAIT_NOT_SERVING_S = 5.0


class TransientError(Exception):
    """The message may be handled later (e.g. the batch it names is not known yet): redeliver
    after `delay_s`, counting a delivery; DLQ once deliveries run out. A dependency that did not
    answer is services.mesh.outage.DependencyUnavailable instead, which counts nothing."""

    def __init__(self, reason: str, delay_s: float = 1.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay_s = delay_s


class PermanentError(Exception):
    """The message can never be handled: copy it to the DLQ and stop redelivering it."""


@dataclass(frozen=True)
class Delivery:
    """What the handler may know about the delivery of the message it handles."""

    subject: str
    num_delivered: int
    max_deliver: int
    stream_seq: int
    headers: Mapping[str, str]
    msg: Msg
    # True on the attempt after DEPENDENCY_RETRY_HORIZON_S of waiting for a dependency: a
    # dependency failure now counts a delivery (and ends the message on the last one).
    dependency_horizon_spent: bool = False

    @property
    def is_last_attempt(self) -> bool:
        """True when a failure of the message now would not be redelivered."""
        return self.num_delivered >= self.max_deliver

    @property
    def gives_up_on_dependencies(self) -> bool:
        """True when a dependency failure now ends the message: its last delivery, after the
        whole horizon of waiting."""
        return self.is_last_attempt and self.dependency_horizon_spent

    async def in_progress(self) -> None:
        """Tell JetStream the handler is still working, resetting the ack timer."""
        await self.msg.in_progress()


Handler = Callable[[Message, Delivery], Awaitable[None]]


def _type_label(delivery: Delivery) -> str:
    """The event type's short name for metrics; "unknown" for types the mesh does not know."""
    message_type = subjects.message_type_for(delivery.headers.get(HEADER_TYPE, ""))
    return message_type.DESCRIPTOR.name if message_type is not None else "unknown"


class EventConsumer:
    """Runs handlers for the messages of one durable consumer; every instance binds the same one."""

    def __init__(
        self,
        js: JetStreamContext,
        spec: ConsumerSpec,
        handlers: Mapping[type[Message], Handler],
        *,
        service: str,
        concurrency: int = 8,
        stall_after_s: float = 30.0,
        reprovision_after_s: float = 10.0,
        dependency_horizon_s: float = 300.0,
    ) -> None:
        """`stall_after_s`, `reprovision_after_s`: see services.mesh.fetch_health.FetchHealth.
        `dependency_horizon_s`: how long a message waits for an unavailable dependency before
        a failure counts against its deliveries (services.mesh.outage)."""
        self._js = js
        self._spec = spec
        self._handlers = {cls.DESCRIPTOR.full_name: (cls, h) for cls, h in handlers.items()}
        self._service = service
        self._slots = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._in_flight: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._state_task: asyncio.Task[None] | None = None
        self._keep_alive_task: asyncio.Task[None] | None = None
        # The messages being handled, with since when: one task keeps the slow ones alive.
        self._handling: dict[int, tuple[Msg, float]] = {}
        self._advisory_sub: Subscription | None = None
        self._pull_sub: JetStreamContext.PullSubscription | None = None
        self._stopping = asyncio.Event()
        self._health = FetchHealth(
            stall_after_s=stall_after_s, reprovision_after_s=reprovision_after_s
        )
        self._dependency_horizon_s = dependency_horizon_s
        # Since when each message now waiting for a dependency has waited (monotonic time).
        self._waiting_since: dict[int, float] = {}

    @classmethod
    def configured(
        cls,
        js: JetStreamContext,
        spec: ConsumerSpec,
        handlers: Mapping[type[Message], Handler],
        *,
        service: str,
        nats: NatsSettings,
        concurrency: int = 8,
    ) -> EventConsumer:
        """A service's consumer, its stall and dependency horizons from the NATS settings."""
        return cls(
            js,
            spec,
            handlers,
            service=service,
            concurrency=concurrency,
            stall_after_s=nats.consumer_stall_s,
            dependency_horizon_s=nats.dependency_horizon_s,
        )

    @property
    def in_flight(self) -> int:
        """Messages being handled right now."""
        return len(self._in_flight)

    @property
    def stalled(self) -> bool:
        """True while pull requests have failed without a break for `stall_after_s` or longer,
        or a message has waited DEPENDENCY_WAIT_NOT_SERVING_S or longer for an unavailable
        dependency: the instance does no work, and its gRPC health says NOT_SERVING."""
        return self._health.stalled or self.dependency_wait_s >= DEPENDENCY_WAIT_NOT_SERVING_S

    @property
    def dependency_wait_s(self) -> float:
        """How long the message that has waited longest for a dependency has waited (0: none)."""
        if not self._waiting_since:
            return 0.0
        return time.monotonic() - min(self._waiting_since.values())

    async def start(self) -> None:
        """Provision the durable consumer, bind to it and start fetching."""
        await ensure_consumer(self._js, self._spec)
        self._pull_sub = subscription = await self._js.pull_subscribe_bind(
            durable=self._spec.durable, stream=self._spec.stream
        )
        advisory = MAX_DELIVERIES_ADVISORY.format(
            stream=self._spec.stream, durable=self._spec.durable
        )
        self._advisory_sub = await connection_of(self._js).subscribe(
            advisory, cb=self._on_max_deliveries
        )
        CONSUMER_STALLED.labels(self._spec.durable).set_function(
            lambda: 1.0 if self.stalled else 0.0
        )
        CONSUMER_DEPENDENCY_WAITS.labels(self._spec.durable).set_function(
            lambda: float(len(self._waiting_since))
        )
        self._loop_task = asyncio.create_task(self._fetch_loop(subscription))
        self._state_task = asyncio.create_task(self._report_state())
        self._keep_alive_task = asyncio.create_task(self._keep_alive())
        log.info(
            "consumer started",
            extra={"durable": self._spec.durable, "concurrency": self._concurrency},
        )

    async def stop(self) -> None:
        """Stop fetching, finish the messages in hand, then return.

        The fetch in progress is allowed to end (within _FETCH_TIMEOUT_S) and what it returns is
        handled: cancelling it would drop messages JetStream has already delivered to this
        process, which would then wait out ack_wait unanswered before anyone else got them.
        """
        self._stopping.set()
        if self._state_task is not None:
            await cancel_and_wait(self._state_task)
        if self._loop_task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._loop_task), _FETCH_TIMEOUT_S + 5.0)
            except TimeoutError:
                await cancel_and_wait(self._loop_task)
            except Exception:
                log.exception("fetch loop failed", extra={"durable": self._spec.durable})
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        if self._keep_alive_task is not None:
            await cancel_and_wait(self._keep_alive_task)
        await self._hand_back_late_deliveries()
        with contextlib.suppress(nats.errors.Error, TimeoutError):
            await connection_of(self._js).flush()  # the acks of the last messages reach the server
        if self._advisory_sub is not None:
            with contextlib.suppress(nats.errors.Error):
                await self._advisory_sub.unsubscribe()
        log.info("consumer stopped", extra={"durable": self._spec.durable})

    async def _hand_back_late_deliveries(self) -> None:
        """Withdraw the pull subscription's interest, and nak what a pull request that outlived
        the last fetch delivered, so that it is redelivered soon (to another instance) instead of
        after ack_wait.

        Interest is withdrawn first: UNSUB, then a round trip. JetStream delivers nothing to an
        inbox nobody listens on (it drops the pull request), and whatever it delivered before the
        UNSUB has arrived when the round trip returns, so every late delivery is in hand here.
        Naking what was pending at one moment and unsubscribing after missed a delivery that
        came in between: it waited out ack_wait (the SIGTERM suite under load, 2 runs in 23).

        The nak asks for the redelivery after _FETCH_TIMEOUT_S: by then every pull request this
        instance sent has expired. A nak without a delay was redelivered at once into that same
        open request, after this loop had ended and just before the subscription closed, and so
        waited out ack_wait unanswered (seen in the SIGTERM suite under load)."""
        if self._pull_sub is None:
            return
        subscription = subscription_of(self._pull_sub)
        with contextlib.suppress(nats.errors.Error):
            await withdraw_interest(subscription)
        while subscription.pending_msgs:
            try:
                msg = await subscription.next_msg(timeout=0.1)
            except nats.errors.Error:
                break  # the connection is gone: JetStream redelivers after ack_wait
            if msg.reply and msg.reply.startswith("$JS.ACK."):
                with contextlib.suppress(nats.errors.Error):
                    await msg.nak(delay=_FETCH_TIMEOUT_S)
        with contextlib.suppress(nats.errors.Error):
            await subscription.unsubscribe()

    async def _fetch_loop(self, subscription: JetStreamContext.PullSubscription) -> None:
        while not self._stopping.is_set():
            await self._slots.acquire()
            free = 1
            while free < self._concurrency and not self._slots.locked():
                await self._slots.acquire()
                free += 1
            if self._stopping.is_set():  # stop() came while this waited for a free slot
                for _ in range(free):
                    self._slots.release()
                return
            messages: list[Msg] = []
            try:
                messages = await subscription.fetch(batch=free, timeout=_FETCH_TIMEOUT_S)
            except (TimeoutError, nats.errors.TimeoutError) as error:
                # No message within the timeout: an idle stream, unless the connection is down.
                if connection_of(self._js).is_connected:
                    self._fetch_answered()
                else:
                    await self._fetch_failed(error, free)
                    continue
            except Exception as error:
                # Whatever fails, the loop goes on: a fetch loop that ended would leave the
                # instance running and consuming nothing.
                await self._fetch_failed(error, free)
                continue
            else:
                self._fetch_answered()
            for _ in range(free - len(messages)):
                self._slots.release()
            for msg in messages:
                task = asyncio.create_task(self._handle(msg))
                self._in_flight.add(task)
                task.add_done_callback(self._finished)

    def _fetch_answered(self) -> None:
        """The server answered a pull request: the consumer works (again)."""
        failed_for_s = self._health.answered()
        if failed_for_s is not None:
            log.info(
                "fetching works again",
                extra={"durable": self._spec.durable, "failed_for_s": round(failed_for_s, 1)},
            )

    async def _fetch_failed(self, error: BaseException, slots: int) -> None:
        """Count the failure, hand back the slots, re-create the durable consumer if fetching
        has failed for a while, then wait (doubling) before the next pull request."""
        for _ in range(slots):
            self._slots.release()
        durable = self._spec.durable
        CONSUMER_FETCH_FAILURES.labels(durable).inc()
        failure = self._health.failed()
        context = {"durable": durable, "failing_for_s": round(failure.failing_for_s, 1)}
        if isinstance(error, nats.errors.Error | TimeoutError):
            log.warning("fetch failed, retrying: %r", error, extra=context)
        else:
            log.error("fetch failed unexpectedly, retrying", exc_info=error, extra=context)
        if failure.reprovision:
            await self._reprovision()
        if failure.newly_stalled:
            log.error("consumer stalled: NOT_SERVING until a fetch succeeds", extra=context)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), failure.wait_s)

    async def _reprovision(self) -> None:
        """Create the durable consumer again; nothing changes while it exists."""
        try:
            # One attempt (no provisioning wait): the fetch loop comes back here while it fails.
            await asyncio.wait_for(
                ensure_consumer(self._js, self._spec, provision_wait_s=0.0),
                _REPROVISION_TIMEOUT_S,
            )
        except (nats.errors.Error, ProvisioningError, TimeoutError) as error:
            log.info(
                "re-creating the durable consumer failed: %r",
                error,
                extra={"durable": self._spec.durable},
            )
        else:
            log.warning(
                "re-created the durable consumer after failing fetches",
                extra={"durable": self._spec.durable},
            )

    async def _report_state(self) -> None:
        """Copy the consumer's pending and redelivered counts from JetStream into gauges."""
        durable = self._spec.durable
        while True:
            try:
                info = await self._js.consumer_info(self._spec.stream, durable)
            except (nats.errors.Error, TimeoutError) as error:
                log.debug("consumer info unavailable: %s", error)
            else:
                CONSUMER_PENDING.labels(durable).set(info.num_pending or 0)
                CONSUMER_ACK_PENDING.labels(durable).set(info.num_ack_pending or 0)
                CONSUMER_REDELIVERED.labels(durable).set(info.num_redelivered or 0)
            await asyncio.sleep(_STATE_INTERVAL_S)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._slots.release()
        if not task.cancelled() and task.exception() is not None:
            log.error("message outcome failed", exc_info=task.exception())

    async def _handle(self, msg: Msg) -> None:
        headers = dict(msg.headers or {})
        metadata = msg.metadata
        delivery = Delivery(
            subject=msg.subject,
            num_delivered=metadata.num_delivered,
            max_deliver=self._spec.max_deliver,
            stream_seq=metadata.sequence.stream,
            headers=headers,
            msg=msg,
        )
        type_name = headers.get(HEADER_TYPE, "")
        entry = self._handlers.get(type_name)
        if entry is None:
            await self._dead_letter(msg, delivery, f"no handler for Huleedu-Type {type_name!r}")
            return
        message_type, handler = entry
        home = subjects.SUBJECT_BY_TYPE.get(message_type)
        if home is not None and msg.subject in subjects.MESH_SUBJECTS and msg.subject != home:
            # Every mesh subject carries one type: anything else on it is a broken producer's.
            await self._dead_letter(
                msg, delivery, f"{type_name} does not belong on {msg.subject} (its subject: {home})"
            )
            return
        try:
            event = message_type.FromString(msg.data)
        except DecodeError as error:
            await self._dead_letter(msg, delivery, f"cannot decode {type_name}: {error}")
            return
        event_id = getattr(event, "metadata").event_id  # noqa: B009
        if not event_id:
            await self._dead_letter(msg, delivery, f"{type_name} has no metadata.event_id")
            return
        correlation = headers.get(HEADER_CORRELATION) or None
        batch_id = getattr(event, "batch_id", None) or None
        essay_id = getattr(event, "essay_id", None) or None
        with (
            log_context(correlation_id=correlation, batch_id=batch_id, essay_id=essay_id),
            tracing.span_from(
                headers,
                f"handle {message_type.DESCRIPTOR.name}",
                SpanKind.CONSUMER,
                consumer=self._spec.durable,
            ),
        ):
            await self._run_handler(handler, event, msg, delivery)

    async def _run_handler(
        self, handler: Handler, event: Message, msg: Msg, delivery: Delivery
    ) -> None:
        key = id(msg)
        self._handling[key] = (msg, time.monotonic())
        event_type = event.DESCRIPTOR.name
        started = time.perf_counter()
        try:
            await self._attempt_until_settled(handler, event, msg, delivery)
        finally:
            self._handling.pop(key, None)
            HANDLER_SECONDS.labels(self._spec.durable, event_type).observe(
                time.perf_counter() - started
            )

    async def _attempt_until_settled(
        self, handler: Handler, event: Message, msg: Msg, delivery: Delivery
    ) -> None:
        """Run the handler; while it fails on an unavailable dependency, run it again after a
        wait (the message is kept: no delivery is counted), until the horizon is spent."""
        wait = DependencyWait(self._dependency_horizon_s)
        key = id(msg)
        try:
            while True:
                try:
                    await handler(event, delivery)
                except Exception as error:
                    if not is_unavailable(error) or delivery.dependency_horizon_spent:
                        await self._settle_failure(msg, delivery, error)
                        return
                    if await self._wait_for_dependency(msg, delivery, wait, error):
                        return
                    if wait.spent:
                        delivery = dataclasses.replace(delivery, dependency_horizon_spent=True)
                else:
                    await msg.ack()
                    EVENTS_HANDLED.labels(self._spec.durable, event.DESCRIPTOR.name, "ack").inc()
                    return
        finally:
            self._waiting_since.pop(key, None)

    async def _wait_for_dependency(
        self, msg: Msg, delivery: Delivery, wait: DependencyWait, error: Exception
    ) -> bool:
        """Wait before the next attempt; True when the consumer is stopping instead (the message
        is handed back for redelivery, to another instance or after the restart)."""
        self._waiting_since.setdefault(id(msg), time.monotonic() - wait.waited_s)
        wait_s = wait.next_wait_s()
        log.warning(
            "dependency unavailable; handling again after a wait: %s",
            error,
            extra={
                "delay_s": round(wait_s, 2),
                "waited_s": round(wait.waited_s, 1),
                "horizon_s": self._dependency_horizon_s,
                "delivery": delivery.num_delivered,
            },
        )
        EVENTS_HANDLED.labels(self._spec.durable, _type_label(delivery), "wait").inc()
        if not await wait_or_stop(self._stopping, wait_s):
            return False
        with contextlib.suppress(nats.errors.Error, TimeoutError):
            await msg.nak()
        return True

    async def _settle_failure(self, msg: Msg, delivery: Delivery, error: Exception) -> None:
        """A failure of the message itself (or of a dependency past the horizon): redeliver,
        counting a delivery, or dead-letter."""
        if isinstance(error, PermanentError):
            await self._dead_letter(msg, delivery, f"permanent error: {error}")
        elif isinstance(error, TransientError):
            await self._retry_or_dead_letter(msg, delivery, error.reason, error.delay_s)
        elif is_unavailable(error):
            reason = f"dependency unavailable past the horizon: {error!r}"
            await self._retry_or_dead_letter(msg, delivery, reason, 1.0)
        else:
            log.exception("handler raised; will retry", extra={"subject": msg.subject})
            await self._retry_or_dead_letter(msg, delivery, f"handler raised: {error!r}", 1.0)

    async def _keep_alive(self) -> None:
        """Tell JetStream, for every message handled or last told about at least half an interval
        (a third of ack_wait) ago, that its handler still works, resetting its ack timer; so each
        hears within one interval. One task for all of them: a task per message cost more than
        most handlers."""
        interval = max(self._spec.ack_wait_s / 3, 0.5)
        while True:
            await asyncio.sleep(interval / 2)
            now = time.monotonic()
            for key, (msg, touched) in list(self._handling.items()):
                # (a handler may have finished while an earlier message was told about)
                if now - touched >= interval / 2 and key in self._handling:
                    self._handling[key] = (msg, now)
                    with contextlib.suppress(Exception):
                        await msg.in_progress()

    async def _retry_or_dead_letter(
        self, msg: Msg, delivery: Delivery, reason: str, delay_s: float
    ) -> None:
        if delivery.is_last_attempt:
            await self._dead_letter(
                msg, delivery, f"gave up after {delivery.num_delivered} deliveries: {reason}"
            )
            return
        log.warning(
            "transient failure; redelivering",
            extra={"reason": reason, "delay_s": delay_s, "delivery": delivery.num_delivered},
        )
        await msg.nak(delay=delay_s)
        EVENTS_HANDLED.labels(self._spec.durable, _type_label(delivery), "nak").inc()

    async def _dead_letter(self, msg: Msg, delivery: Delivery, reason: str) -> None:
        letter = DeadLetter(
            subject=msg.subject,
            data=msg.data,
            original_headers=delivery.headers,
            stream_seq=delivery.stream_seq,
            deliveries=delivery.num_delivered,
            reason=reason,
        )
        await self._copy_to_dlq(letter)
        await msg.term()
        EVENTS_HANDLED.labels(self._spec.durable, _type_label(delivery), "dlq").inc()

    async def _copy_to_dlq(self, letter: DeadLetter) -> None:
        await copy_to_dlq(
            self._js,
            letter,
            stream=self._spec.stream,
            durable=self._spec.durable,
            service=self._service,
        )

    async def _on_max_deliveries(self, advisory: Msg) -> None:
        try:
            letter = await unanswered_message(self._js, self._spec.stream, advisory.data)
        except Exception:
            log.exception("cannot read message named by a max-deliveries advisory")
            return
        await self._copy_to_dlq(letter)
