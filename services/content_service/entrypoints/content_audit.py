"""Every Content Service call on record (services.mesh.audit) before it is answered: who called,
which storage ids were read or written, how the call ended. One record per call, whatever the
number of ids; never the bytes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import nats.errors

from huleedu.audit.v1 import audit_pb2
from services.content_service.domain.content import (
    ContentCorruptedError,
    ContentNotFoundError,
    ContentTooLargeError,
    ErasureNotPermittedError,
    InvalidContentRequestError,
)
from services.mesh.audit import READ, WRITTEN, AuditLog, audit_record
from services.mesh.auth import current_caller

log = logging.getLogger(__name__)
T = TypeVar("T")
# The domain errors a call ends with, as the status codes the servicer answers them with. Ids of a
# request refused as invalid are not ids of anything stored: they are left out of its record.
_OUTCOMES: tuple[tuple[type[Exception], str], ...] = (
    (ContentNotFoundError, "NOT_FOUND"),
    (ContentCorruptedError, "DATA_LOSS"),
    (ContentTooLargeError, "RESOURCE_EXHAUSTED"),
    (InvalidContentRequestError, "INVALID_ARGUMENT"),
    (ErasureNotPermittedError, "PERMISSION_DENIED"),
)
_IDS_NAME_NOTHING = frozenset({"RESOURCE_EXHAUSTED", "INVALID_ARGUMENT"})


class ContentAudit:
    """Wraps the library's calls: the call, then its record, then the answer."""

    def __init__(self, audit_log: AuditLog, service_name: str) -> None:
        self._log = audit_log
        self._service_name = service_name

    async def read(self, rpc: str, storage_ids: Sequence[str], call: Awaitable[T]) -> T:
        """`call`'s result once the read of `storage_ids` is on record."""
        return await self._recorded(READ, rpc, call, lambda _result: storage_ids, storage_ids)

    async def written(self, rpc: str, call: Awaitable[T], ids: Callable[[T], Sequence[str]]) -> T:
        """`call`'s result once the write of `ids(result)` is on record (an erasure is a write
        too: its record names the method EraseContent and the ids released)."""
        return await self._recorded(WRITTEN, rpc, call, ids, ())

    async def _recorded(
        self,
        action: audit_pb2.AuditAction.ValueType,
        rpc: str,
        call: Awaitable[T],
        ids: Callable[[T], Sequence[str]],
        requested: Sequence[str],
    ) -> T:
        caller = current_caller()
        method = f"/{self._service_name}/{rpc}"
        try:
            result = await call
        except Exception as error:
            outcome = next((code for kind, code in _OUTCOMES if isinstance(error, kind)), None)
            if outcome is None:  # storage unavailable: the call is answered UNAVAILABLE, unread
                raise
            named = () if outcome in _IDS_NAME_NOTHING else requested
            record = audit_record(
                caller,
                action,
                service=self._log.service,
                method=method,
                storage_ids=named,
                outcome=outcome,
            )
            try:
                await self._log.publish(record)
            except (nats.errors.Error, TimeoutError) as publish_error:
                log.warning(
                    "a failed call is not on record: %r", publish_error, extra={"method": method}
                )
            raise
        record = audit_record(
            caller, action, service=self._log.service, method=method, storage_ids=ids(result)
        )
        await self._log.publish(record)
        return result
