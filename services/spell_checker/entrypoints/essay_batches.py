"""Essays whose checks start together go through together: one read of all their texts from the
Content Service, one check per worker process for its share, one write of the corrected texts and
of each essay's details (its corrections and unknown words: essay text, which no event carries).

Each request still gets exactly its own outcome. Batching only saves calls: when anything in a
group fails (an id the Content Service does not know, a worker that died, a text that is not
UTF-8), the group's essays are done again one by one, so every essay meets only its own error,
raised as the one-by-one path raises it.

No essay waits for a group to fill: a group is whatever arrived while the event loop was busy
(the consumer starts a fetched batch of requests at once), and it starts at the next turn of the
loop. Groups overlap, so a slow group never holds up the next.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from huleedu.common.v1 import common_pb2
from services.mesh.batching import CallBatcher
from services.mesh.consumer import PermanentError
from services.mesh.content_client import ContentNotFoundError
from services.spell_checker.domain.model import CheckResult
from services.spell_checker.domain.ports import CheckerPool, ContentStore

log = logging.getLogger(__name__)
CORRECTED_MEDIA_TYPE = "text/plain; charset=utf-8"
DETAILS_MEDIA_TYPE = "application/x-protobuf; messageType=huleedu.common.v1.SpellcheckDetails"
_CORRECTED = common_pb2.CONTENT_KIND_CORRECTED_TEXT
_DETAILS = common_pb2.CONTENT_KIND_SPELLCHECK_DETAILS
Item = tuple[bytes, common_pb2.ContentKind.ValueType, str]


class EssayFailedError(Exception):
    """This essay cannot be checked, whatever is retried: report it FAILED."""


@dataclass(frozen=True)
class EssayJob:
    """One essay to check: its language, where its text is (and whose, of which batch), words to
    leave alone."""

    language: str
    storage_id: str
    allowed_words: tuple[str, ...] = ()
    tenant: str = ""
    batch_id: str = ""  # holds what is stored for the essay (EraseContent releases it)


@dataclass(frozen=True)
class CheckedEssay:
    """An essay's check result, the storage id of its corrected text and that of its details
    ("" when it has no corrections and no unknown words)."""

    result: CheckResult
    corrected_storage_id: str
    details_storage_id: str


def details_of(result: CheckResult) -> bytes:
    """The essay's corrections and unknown words as SpellcheckDetails bytes, serialized
    deterministically: the same details are the same bytes, so the same storage id on every
    redelivery. Empty when there is nothing to list."""
    details = common_pb2.SpellcheckDetails(
        corrections=[
            common_pb2.Correction(
                offset=c.offset, length=c.length, original=c.original, replacement=c.replacement
            )
            for c in result.corrections
        ],
        unknown_words=result.unknown_words,
    )
    return details.SerializeToString(deterministic=True)


class EssayBatcher:
    """Checks essays in groups of at most `max_group` (see the module docstring)."""

    def __init__(self, content: ContentStore, checker: CheckerPool, *, max_group: int) -> None:
        self._content = content
        self._checker = checker
        self._groups = CallBatcher(self._outcomes, window_s=0.0, max_items=max_group)

    async def check(self, job: EssayJob) -> CheckedEssay:
        """The essay's check result and where its corrected text and details are stored; raises
        EssayFailedError for an essay that can never be checked, and whatever the Content
        Service or the pool raised otherwise."""
        return await self._groups.call(job)

    async def _outcomes(self, jobs: Sequence[EssayJob]) -> Sequence[CheckedEssay | BaseException]:
        if len(jobs) > 1 and len({job.tenant for job in jobs}) == 1:
            try:
                return await self._together(jobs)
            except Exception as error:  # every essay is done again alone, meeting its own error
                log.info(
                    "a group of %d essays failed (%r); checking them one by one", len(jobs), error
                )
        return await asyncio.gather(
            *(self.check_alone(job) for job in jobs), return_exceptions=True
        )

    async def _together(self, jobs: Sequence[EssayJob]) -> list[CheckedEssay]:
        """The whole group (of one tenant) in three steps; raises if any essay fails any step."""
        tenant = jobs[0].tenant
        ids = list(dict.fromkeys(job.storage_id for job in jobs))
        texts = dict(zip(ids, await self._content.get_many(ids, tenant=tenant), strict=True))
        results = await self._checker.check_many(
            [
                (job.language, texts[job.storage_id].decode("utf-8"), job.allowed_words)
                for job in jobs
            ]
        )
        return await self._store(results, jobs)

    async def _store(
        self, results: Sequence[CheckResult], jobs: Sequence[EssayJob]
    ) -> list[CheckedEssay]:
        """Each result's corrected text and details, in one put_many per batch (the batch holds
        them); bytes that several essays of a batch share are sent once."""
        batches = list(dict.fromkeys(job.batch_id for job in jobs))
        stored = await asyncio.gather(
            *(
                self._store_for(
                    [r for r, j in zip(results, jobs, strict=True) if j.batch_id == batch_id],
                    jobs[0].tenant,
                    batch_id,
                )
                for batch_id in batches
            )
        )
        by_batch = {
            batch_id: iter(checked) for batch_id, checked in zip(batches, stored, strict=True)
        }
        return [next(by_batch[job.batch_id]) for job in jobs]

    async def _store_for(
        self, results: Sequence[CheckResult], tenant: str, batch_id: str
    ) -> list[CheckedEssay]:
        texts: list[Item] = [
            (r.corrected_text.encode("utf-8"), _CORRECTED, CORRECTED_MEDIA_TYPE) for r in results
        ]
        details: list[Item] = [(details_of(r), _DETAILS, DETAILS_MEDIA_TYPE) for r in results]
        items = list(dict.fromkeys(texts + [item for item in details if item[0]]))
        put = await self._content.put_many(items, tenant=tenant, holder=batch_id)
        stored = dict(zip(items, put, strict=True))
        return [
            CheckedEssay(r, stored[text], stored[detail] if detail[0] else "")
            for r, text, detail in zip(results, texts, details, strict=True)
        ]

    async def check_alone(self, job: EssayJob) -> CheckedEssay:
        """One essay: read, check, store; each step's permanent failure named."""
        try:
            raw = await self._content.get(job.storage_id, tenant=job.tenant)
        except ContentNotFoundError:
            raise
        except PermanentError as error:
            raise EssayFailedError(f"cannot read the essay: {error}") from error
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise EssayFailedError(f"the essay is not UTF-8 text: {error}") from error
        result = await self._checker.check(job.language, text, job.allowed_words)
        try:
            (checked,) = await self._store([result], [job])
        except ContentNotFoundError:
            raise
        except PermanentError as error:
            raise EssayFailedError(f"cannot store the corrected text: {error}") from error
        return checked
