"""Handles SpellcheckGroupRequested (what ELS sends: a group of a batch's essays) and
EssayLifecycleSpellcheckRequest (one essay, from an ELS of before groups): read each essay, check
it, store the corrected text and the details (corrections, unknown words), publish the outcome
with their storage ids (SpellcheckGroupCompleted, or EssaySpellcheckCompleted for one essay): the
event carries ids and counts, never essay text.

Every outcome has an event id derived from the request, so a redelivered request republishes the
same event and JetStream drops the copy. A group is answered once, whole: each essay meets only
its own failure (FAILED is per essay), but when one must be retried the group is not answered
and its redelivery checks every essay again, so the stream holds one outcome per essay.

A dependency that does not answer (the Content Service, NATS) says nothing about the essay: the
consumer keeps the request and runs it again for up to DEPENDENCY_RETRY_HORIZON_S without
counting a delivery. Failures that may pass (content not there yet, a worker that died) are
retried by redelivery; on the last delivery (for a dependency: after the whole horizon, too) the
essay is reported FAILED with the reason instead, so ELS is never left waiting. A request that
cannot be decoded never gets here: the consumer moves it to the DLQ.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from typing import Any

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


def group_completion_event_id(request: events_pb2.SpellcheckGroupRequested) -> str:
    """The one event id of the completion of the group `request`."""
    return derived_event_id(
        request.batch_id, request.metadata.event_id, "spellcheck_group_completed"
    )


@dataclass(frozen=True)
class Settled:
    """An essay's outcome: SUCCESS with what was checked and stored, or FAILED with the reason."""

    status: common_pb2.SpellcheckStatus.ValueType
    checked: CheckedEssay | None = None
    error: str = ""

    def fields(self) -> dict[str, Any]:
        """The outcome's fields, as EssaySpellcheckCompleted and a group's result name them."""
        checked = self.checked
        if checked is None:
            return {"status": self.status, "error": self.error}
        return {
            "status": self.status,
            "corrected_text_storage_id": checked.corrected_storage_id,
            "details_storage_id": checked.details_storage_id,
            "word_count": checked.result.word_count,
            "correction_count": len(checked.result.corrections),
            "warning": checked.result.warning,
        }


class SpellcheckRequestHandler:
    """The consumer's handler for spell-check requests, of a group or of one essay."""

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
        if isinstance(event, events_pb2.SpellcheckGroupRequested):
            await self.handle_group(
                event,
                last_attempt=delivery.is_last_attempt,
                give_up_on_dependencies=delivery.gives_up_on_dependencies,
            )
            return
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
        job = EssayJob(
            request.language,
            request.text_storage_id,
            tuple(request.allowed_words),
            request.tenant_id,
            request.batch_id,
        )
        settled = await self._settle(
            job, last_attempt=last_attempt, give_up_on_dependencies=give_up_on_dependencies
        )
        await self._events.publish(self._completion(request, settled))
        _count(settled)

    async def handle_group(
        self,
        request: events_pb2.SpellcheckGroupRequested,
        *,
        last_attempt: bool,
        give_up_on_dependencies: bool = False,
    ) -> None:
        """Check the group's essays together and publish their outcomes in one event; when one
        must be retried, publish nothing and raise as `handle` would for one essay
        (DependencyUnavailable first: the group waits for the dependency)."""
        if not request.batch_id:
            raise PermanentError("spell-check group request without batch_id")
        if not request.essays or not all(essay.essay_id for essay in request.essays):
            raise PermanentError("spell-check group request without essays, or with one unnamed")
        outcomes = await asyncio.gather(
            *(
                self._settle(
                    EssayJob(
                        request.language,
                        essay.text_storage_id,
                        tuple(essay.allowed_words),
                        request.tenant_id,
                        request.batch_id,
                    ),
                    last_attempt=last_attempt,
                    give_up_on_dependencies=give_up_on_dependencies,
                )
                for essay in request.essays
            ),
            return_exceptions=True,
        )
        retries = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        if retries:
            raise next((e for e in retries if is_unavailable(e)), retries[0])
        settled = [outcome for outcome in outcomes if isinstance(outcome, Settled)]
        await self._events.publish(self._group_completion(request, settled))
        for outcome in settled:
            _count(outcome)

    async def _settle(
        self,
        job: EssayJob,
        *,
        last_attempt: bool,
        give_up_on_dependencies: bool,
    ) -> Settled:
        """The outcome of `job` (its language as the request tags it); raises to have it retried
        (see the module docstring)."""
        started = time.perf_counter()
        try:
            checked = await self._essays.check(replace(job, language=self._language(job)))
        except EssayFailedError as failure:
            log.warning("essay failed", extra={"reason": str(failure)})
            return Settled(_FAILED, error=str(failure))
        except Exception as error:
            if is_unavailable(error) and not give_up_on_dependencies:
                raise
            return self._fail_or_retry(error, last_attempt=last_attempt)
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
        SPELLCHECK_SECONDS.observe(time.perf_counter() - started)
        return Settled(_SUCCESS, checked)

    def _language(self, job: EssayJob) -> str:
        try:
            return resolve_language(job.language, self._default_language)
        except UnsupportedLanguageError as error:
            raise EssayFailedError(str(error)) from error

    def _fail_or_retry(self, error: Exception, *, last_attempt: bool) -> Settled:
        """Raise to be redelivered; on the last delivery report the essay FAILED instead."""
        expected = isinstance(error, _EXPECTED_FAILURES)
        if not last_attempt:
            if expected:
                raise TransientError(_reason(error), delay_s=self._retry_delay_s) from error
            raise error
        if not expected:
            log.error("spell check failed on the last delivery", exc_info=error)
        reason = f"gave up after retries: {_reason(error)}"
        log.warning("essay failed", extra={"reason": reason})
        return Settled(_FAILED, error=reason)

    def _completion(
        self, request: events_pb2.EssayLifecycleSpellcheckRequest, settled: Settled
    ) -> events_pb2.EssaySpellcheckCompleted:
        return events_pb2.EssaySpellcheckCompleted(
            metadata=_answering(request, completion_event_id(request)),
            batch_id=request.batch_id,
            essay_id=request.essay_id,
            **settled.fields(),
        )

    def _group_completion(
        self, request: events_pb2.SpellcheckGroupRequested, settled: list[Settled]
    ) -> events_pb2.SpellcheckGroupCompleted:
        completed = events_pb2.SpellcheckGroupCompleted(
            metadata=_answering(request, group_completion_event_id(request)),
            batch_id=request.batch_id,
        )
        for essay, outcome in zip(request.essays, settled, strict=True):
            completed.results.add(essay_id=essay.essay_id, **outcome.fields())
        return completed


def _answering(
    request: events_pb2.EssayLifecycleSpellcheckRequest | events_pb2.SpellcheckGroupRequested,
    event_id: str,
) -> common_pb2.EventMetadata:
    """The metadata of the answer `event_id` to `request`: its correlation, caused by it."""
    return new_metadata(
        PRODUCER,
        correlation_id=request.metadata.correlation_id,
        causation_id=request.metadata.event_id,
        event_id=event_id,
    )


def _count(settled: Settled) -> None:
    """The metrics of an essay whose outcome is published."""
    if settled.checked is None:
        SPELLCHECK_ESSAYS.labels("failed").inc()
        return
    SPELLCHECK_ESSAYS.labels("success").inc()
    SPELLCHECK_CORRECTIONS.inc(len(settled.checked.result.corrections))
