"""Handles EssayLifecycleSpellcheckRequest: read the essay, check it, store the corrected text and
the details (corrections, unknown words), publish EssaySpellcheckCompleted with their storage ids:
the event carries ids and counts, never essay text.

Every request ends in exactly one completion event id (derived from the request), so a
redelivered request republishes the same event and JetStream drops the copy. A dependency that
does not answer (the Content Service, NATS) says nothing about the essay: the consumer keeps the
request and runs it again for up to DEPENDENCY_RETRY_HORIZON_S without counting a delivery.
Failures that may pass (content not there yet, a worker that died) are retried by redelivery; on
the last delivery (for a dependency: after the whole horizon, too) the essay is reported FAILED
with the reason instead, so ELS is never left waiting. A request that cannot be decoded never
gets here: the consumer moves it to the DLQ.
"""

from __future__ import annotations

import logging
import time

from google.protobuf.message import Message

from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from services.mesh.consumer import Delivery, PermanentError, TransientError
from services.mesh.content_client import ContentNotFoundError
from services.mesh.event_ids import derived_event_id, new_metadata
from services.mesh.outage import DependencyUnavailable, is_unavailable
from services.spell_checker.adapters.metrics import (
    SPELLCHECK_CORRECTIONS,
    SPELLCHECK_ESSAYS,
    SPELLCHECK_SECONDS,
)
from services.spell_checker.domain.languages import UnsupportedLanguageError, resolve_language
from services.spell_checker.domain.ports import CheckerPool, ContentStore, EventSink
from services.spell_checker.entrypoints.essay_batches import (
    CheckedEssay,
    EssayBatcher,
    EssayFailedError,
    EssayJob,
)

log = logging.getLogger(__name__)

PRODUCER = "spell_checker"
_SUCCESS = common_pb2.SPELLCHECK_STATUS_SUCCESS
_FAILED = common_pb2.SPELLCHECK_STATUS_FAILED


# Failures that may pass: retried with the configured delay, reported without a traceback.
_EXPECTED_FAILURES = (TransientError, ContentNotFoundError, DependencyUnavailable)


def _reason(error: Exception) -> str:
    reason = getattr(error, "reason", None)
    return str(reason) if reason else (str(error) or repr(error))


def completion_event_id(request: events_pb2.EssayLifecycleSpellcheckRequest) -> str:
    """The one event id of the completion of `request`, the same on every redelivery."""
    return derived_event_id(
        request.batch_id, request.essay_id, request.metadata.event_id, "spellcheck_completed"
    )


class SpellcheckRequestHandler:
    """The consumer's handler for spell-check requests."""

    def __init__(
        self,
        *,
        content: ContentStore,
        checker: CheckerPool,
        events: EventSink,
        default_language: str,
        retry_delay_s: float,
        max_group: int = 1,
    ) -> None:
        self._essays = EssayBatcher(content, checker, max_group=max_group)
        self._events = events
        self._default_language = default_language
        self._retry_delay_s = retry_delay_s

    async def __call__(self, event: Message, delivery: Delivery) -> None:
        """Entry point for the mesh EventConsumer."""
        if not isinstance(event, events_pb2.EssayLifecycleSpellcheckRequest):
            raise PermanentError(f"not a spell-check request: {event.DESCRIPTOR.full_name}")
        await self.handle(
            event,
            last_attempt=delivery.is_last_attempt,
            give_up_on_dependencies=delivery.gives_up_on_dependencies,
        )

    async def handle(
        self,
        request: events_pb2.EssayLifecycleSpellcheckRequest,
        *,
        last_attempt: bool,
        give_up_on_dependencies: bool = False,
    ) -> None:
        """Check the essay and publish its completion; raise DependencyUnavailable to be run
        again, TransientError to be redelivered, PermanentError (to the DLQ) for a request
        nobody could take the answer of."""
        missing = [name for name in ("batch_id", "essay_id") if not getattr(request, name)]
        if missing:
            raise PermanentError(f"spell-check request without {' or '.join(missing)}")
        started = time.perf_counter()
        try:
            checked = await self._check(request)
        except EssayFailedError as failure:
            await self._publish(request, _FAILED, error=str(failure))
            SPELLCHECK_ESSAYS.labels("failed").inc()
            return
        except Exception as error:
            if is_unavailable(error) and not give_up_on_dependencies:
                raise
            await self._fail_or_retry(request, error, last_attempt=last_attempt)
            return
        result = checked.result
        # Logged before the publish: a process killed in between has done the check, and its
        # redelivery does it (and logs it) again, so the lines count every check done.
        log.info(
            "essay checked",
            extra={
                "words": result.word_count,
                "corrections": len(result.corrections),
                "unknown_words": len(result.unknown_words),
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        await self._publish(request, _SUCCESS, checked=checked)
        SPELLCHECK_ESSAYS.labels("success").inc()
        SPELLCHECK_CORRECTIONS.inc(len(result.corrections))
        SPELLCHECK_SECONDS.observe(time.perf_counter() - started)

    async def _fail_or_retry(
        self,
        request: events_pb2.EssayLifecycleSpellcheckRequest,
        error: Exception,
        *,
        last_attempt: bool,
    ) -> None:
        """Raise to be redelivered; on the last delivery report the essay FAILED instead."""
        expected = isinstance(error, _EXPECTED_FAILURES)
        if not last_attempt:
            if expected:
                raise TransientError(_reason(error), delay_s=self._retry_delay_s) from error
            raise error
        if not expected:
            log.error("spell check failed on the last delivery", exc_info=error)
        await self._publish(request, _FAILED, error=f"gave up after retries: {_reason(error)}")
        SPELLCHECK_ESSAYS.labels("failed").inc()

    async def _check(self, request: events_pb2.EssayLifecycleSpellcheckRequest) -> CheckedEssay:
        try:
            language = resolve_language(request.language, self._default_language)
        except UnsupportedLanguageError as error:
            raise EssayFailedError(str(error)) from error
        return await self._essays.check(
            EssayJob(
                language,
                request.text_storage_id,
                tuple(request.allowed_words),
                request.tenant_id,
                request.batch_id,
            )
        )

    async def _publish(
        self,
        request: events_pb2.EssayLifecycleSpellcheckRequest,
        status: common_pb2.SpellcheckStatus.ValueType,
        *,
        checked: CheckedEssay | None = None,
        error: str = "",
    ) -> None:
        completed = events_pb2.EssaySpellcheckCompleted(
            metadata=new_metadata(
                PRODUCER,
                correlation_id=request.metadata.correlation_id,
                causation_id=request.metadata.event_id,
                event_id=completion_event_id(request),
            ),
            batch_id=request.batch_id,
            essay_id=request.essay_id,
            status=status,
            error=error,
        )
        if checked is not None:
            completed.corrected_text_storage_id = checked.corrected_storage_id
            completed.details_storage_id = checked.details_storage_id
            completed.word_count = checked.result.word_count
            completed.correction_count = len(checked.result.corrections)
            completed.warning = checked.result.warning
        if status == _FAILED:
            log.warning("essay failed", extra={"reason": error})
        await self._events.publish(completed)
