"""GetBatch, ListBatches and WatchBatch over the repository."""

from __future__ import annotations

from huleedu.internal.bos.v1.batch_record_pb2 import BatchRecord
from services.batch_orchestrator.domain.errors import BatchNotFound
from services.batch_orchestrator.domain.listing import (
    decode_page_token,
    encode_page_token,
    page_size,
    summary,
)
from services.batch_orchestrator.domain.ports import BatchRepository, BatchWatch
from services.batch_orchestrator.domain.registration import parse_batch_id


class BatchQueries:
    """Read-only use cases; InvalidRequest for malformed input, BatchNotFound for unknown ids."""

    def __init__(self, repository: BatchRepository) -> None:
        self._repository = repository

    async def get(self, batch_id: str, tenant_id: str) -> BatchRecord:
        """The batch with this id in the tenant; another tenant's batch is not found, exactly
        as a missing one, so nothing says it exists."""
        canonical = parse_batch_id(batch_id)
        batch = await self._repository.get(canonical)
        # An erased batch's tombstone is not found either.
        if batch is None or batch.tenant_id != tenant_id or batch.HasField("erased_at"):
            raise BatchNotFound(canonical)
        return batch

    async def list(
        self, *, tenant_id: str, requested_page_size: int, page_token: str
    ) -> tuple[list[BatchRecord], str]:
        """A page of the tenant's batch summaries, newest first, and the next page's token (""
        on the last)."""
        size = page_size(requested_page_size)
        cursor = decode_page_token(page_token)
        page = await self._repository.list_newest_first(
            tenant_id=tenant_id, after=cursor, limit=size
        )
        return [summary(b) for b in page.batches], encode_page_token(page.next_cursor)

    async def watch(self, batch_id: str, tenant_id: str) -> BatchWatch:
        """Follow the tenant's batch from its current state."""
        batch = await self.get(batch_id, tenant_id)
        return await self._repository.watch(batch.batch_id)
