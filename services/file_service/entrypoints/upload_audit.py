"""Uploads on record (services.mesh.audit) before they are answered: the teacher (or tool) who
uploaded, the batch, the upload ids and the storage ids of the raw bytes and extracted text. One
record per batch per call; the Content Service records its own write (by the File Service) too."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
import nats.errors

from services.file_service.domain.uploads import Receipt
from services.mesh.audit import WRITTEN, AuditLog, audit_record
from services.mesh.auth import current_caller
from services.mesh.grpc_errors import abort

_RETRY = "the files are stored but not on record; upload them again (duplicates are detected)"


class UploadAudit:
    """Records the receipts of one upload call, by batch."""

    def __init__(self, audit_log: AuditLog, service_name: str) -> None:
        self._log = audit_log
        self._service_name = service_name

    async def record(
        self,
        context: grpc.aio.ServicerContext[Any, Any],
        rpc: str,
        uploads: Sequence[tuple[str, Receipt]],
    ) -> None:
        """Put (batch id, receipt) pairs on record, one record per batch; a log that does not
        take them ends the call UNAVAILABLE (sending the files again records them)."""
        caller = current_caller()
        by_batch: dict[str, list[Receipt]] = {}
        for batch_id, receipt in uploads:
            by_batch.setdefault(batch_id, []).append(receipt)
        records = [
            audit_record(
                caller,
                WRITTEN,
                service=self._log.service,
                method=f"/{self._service_name}/{rpc}",
                batch_id=batch_id,
                storage_ids=[
                    storage_id
                    for receipt in receipts
                    for storage_id in (receipt.raw_storage_id, receipt.text_storage_id)
                    if storage_id
                ],
                file_upload_ids=[receipt.file_upload_id for receipt in receipts],
            )
            for batch_id, receipts in by_batch.items()
        ]
        try:
            for record in records:
                await self._log.publish(record)
        except (nats.errors.Error, TimeoutError) as error:
            await abort(
                context,
                grpc.StatusCode.UNAVAILABLE,
                f"the audit log is unavailable ({error}); {_RETRY}",
                reason="DEPENDENCY_UNAVAILABLE",
            )
