"""huleedu.file.v1.FileService over gRPC: protobuf in, the upload use case, receipts out. Domain
and infrastructure errors become status codes here and nowhere else."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any, NoReturn

import grpc
import nats.errors

from huleedu.common.v1 import common_pb2
from huleedu.file.v1 import file_service_pb2, file_service_pb2_grpc
from services.file_service.adapters.metrics import EXTRACTION_FAILURES
from services.file_service.domain.errors import (
    BatchFileLimitError,
    BatchNotRegisteredError,
    InvalidUploadError,
    UploadTooLargeError,
)
from services.file_service.domain.ingest import UploadIngestor
from services.file_service.domain.uploads import Receipt, UploadStatus, display_file_name
from services.file_service.entrypoints.upload_audit import UploadAudit
from services.mesh.auth import current_caller
from services.mesh.consumer import PermanentError, TransientError
from services.mesh.grpc_errors import Violation, abort
from services.mesh.logging import log_context
from services.mesh.outage import DependencyUnavailable

log = logging.getLogger(__name__)
SERVICE_NAME = file_service_pb2.DESCRIPTOR.services_by_name["FileService"].full_name
_STATUS = {
    UploadStatus.ACCEPTED: file_service_pb2.UPLOAD_STATUS_ACCEPTED,
    UploadStatus.REJECTED: file_service_pb2.UPLOAD_STATUS_REJECTED,
    UploadStatus.DUPLICATE: file_service_pb2.UPLOAD_STATUS_DUPLICATE,
}
_RETRY = "nothing about this file was acknowledged; retry the upload (duplicates are detected)"


class UploadFailure(Exception):
    """A file that got no receipt, with the status code and message to answer with."""

    # Not a frozen dataclass: asyncio sets __traceback__ on an exception a task raised, which a
    # frozen one refuses (UploadFiles then answered UNKNOWN instead of the file's status).
    def __init__(
        self, code: grpc.StatusCode, message: str, *, reason: str, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.field = field

    async def abort(
        self, context: grpc.aio.ServicerContext[Any, Any], message: str, **metadata: str
    ) -> NoReturn:
        """End the call with this failure's status, `message` and details."""
        await abort(
            context,
            self.code,
            message,
            reason=self.reason,
            violations=[Violation(self.field, self.message)] if self.field else (),
            metadata=metadata,
        )


def receipt_to_proto(receipt: Receipt) -> file_service_pb2.FileReceipt:
    """The protobuf receipt."""
    return file_service_pb2.FileReceipt(
        file_upload_id=receipt.file_upload_id,
        file_name=receipt.file_name,
        status=_STATUS[receipt.status],
        raw_storage_id=receipt.raw_storage_id,
        text_storage_id=receipt.text_storage_id,
        content_md5=receipt.content_md5,
        error_code=(
            common_pb2.ValidationErrorCode.Value(f"VALIDATION_ERROR_CODE_{receipt.rejection.value}")
            if receipt.rejection is not None
            else common_pb2.VALIDATION_ERROR_CODE_UNSPECIFIED
        ),
        detail=receipt.detail,
        content_sha256=receipt.content_sha256,
        word_count=receipt.word_count,
        detected_format=receipt.detected_format,
    )


async def ingest_or_fail(
    ingestor: UploadIngestor, batch_id: str, file_name: str, content: bytes
) -> Receipt:
    """Run the use case for the current caller's tenant, turning every reason for not answering
    into an UploadFailure."""
    try:
        receipt = await ingestor.ingest(
            batch_id, file_name, content, tenant_id=current_caller().tenant
        )
    except InvalidUploadError as error:
        raise UploadFailure(
            grpc.StatusCode.INVALID_ARGUMENT,
            str(error),
            reason="INVALID_UPLOAD",
            field=error.field,
        ) from error
    except UploadTooLargeError as error:
        raise UploadFailure(
            grpc.StatusCode.RESOURCE_EXHAUSTED, str(error), reason="UPLOAD_TOO_LARGE"
        ) from error
    except BatchFileLimitError as error:
        raise UploadFailure(
            grpc.StatusCode.RESOURCE_EXHAUSTED, str(error), reason="BATCH_FILE_LIMIT"
        ) from error
    except BatchNotRegisteredError as error:
        raise UploadFailure(
            grpc.StatusCode.NOT_FOUND, str(error), reason="BATCH_NOT_REGISTERED"
        ) from error
    except (
        DependencyUnavailable,
        TransientError,
        nats.errors.Error,
        TimeoutError,
        ConnectionError,
    ) as error:
        log.warning("upload failed on a dependency: %s", error)
        raise UploadFailure(
            grpc.StatusCode.UNAVAILABLE,
            f"storage or event stream unavailable ({error}); {_RETRY}",
            reason="DEPENDENCY_UNAVAILABLE",
        ) from error
    except PermanentError as error:
        log.error("content service refused an upload: %s", error)
        raise UploadFailure(
            grpc.StatusCode.INTERNAL, f"{error}; {_RETRY}", reason="CONTENT_REFUSED"
        ) from error
    except Exception as error:  # the edge: log it whole, answer with a status, keep serving
        log.exception("upload failed unexpectedly")
        raise UploadFailure(
            grpc.StatusCode.INTERNAL, f"internal error ({error}); {_RETRY}", reason="INTERNAL"
        ) from error
    if receipt.status is UploadStatus.REJECTED and receipt.rejection is not None:
        EXTRACTION_FAILURES.labels(receipt.rejection.value).inc()
    return receipt


_SLOT_BYTES = 1024 * 1024  # an UploadFiles slot per started MiB of a file


class FileServicer(file_service_pb2_grpc.FileServiceServicer):
    """UploadFile and UploadFiles."""

    def __init__(
        self, ingestor: UploadIngestor, audit: UploadAudit, *, upload_concurrency: int
    ) -> None:
        self._ingestor = ingestor
        self._audit = audit  # uploads on record before their answer (upload_audit.py)
        self._concurrency = upload_concurrency

    async def UploadFile(
        self,
        request: file_service_pb2.UploadFileRequest,
        context: grpc.aio.ServicerContext[
            file_service_pb2.UploadFileRequest, file_service_pb2.UploadFileResponse
        ],
    ) -> file_service_pb2.UploadFileResponse:
        """One file, one durable receipt."""
        with log_context(batch_id=request.batch_id or None):
            try:
                receipt = await ingest_or_fail(
                    self._ingestor, request.batch_id, request.file_name, request.content
                )
            except UploadFailure as failure:
                await failure.abort(context, failure.message)
        await self._audit.record(context, "UploadFile", [(request.batch_id, receipt)])
        return file_service_pb2.UploadFileResponse(receipt=receipt_to_proto(receipt))

    async def UploadFiles(
        self,
        request_iterator: AsyncIterator[file_service_pb2.UploadFilesRequest],
        context: grpc.aio.ServicerContext[
            file_service_pb2.UploadFilesRequest, file_service_pb2.UploadFilesResponse
        ],
    ) -> file_service_pb2.UploadFilesResponse:
        """Many files, processed several at a time; receipts in the order the files came. The
        first file that cannot be answered stops the stream (files before it are durable).

        A file takes one of the stream's `upload_concurrency` slots per started MiB (at least
        one, at most all), so many small essays are processed together while large files, whose
        bytes are held until they are stored, take turns: about `upload_concurrency` MiB of
        uploads at once. Only this loop acquires slots, one file at a time, so a file's several
        slots cannot deadlock with another's."""
        slots = asyncio.Semaphore(self._concurrency)
        started: list[tuple[str, asyncio.Task[Receipt]]] = []
        batch_ids: list[str] = []
        failed = asyncio.Event()

        async def one(request: file_service_pb2.UploadFilesRequest, weight: int) -> Receipt:
            try:
                with log_context(batch_id=request.batch_id or None):
                    return await ingest_or_fail(
                        self._ingestor, request.batch_id, request.file_name, request.content
                    )
            except BaseException:
                failed.set()
                raise
            finally:
                for _ in range(weight):
                    slots.release()

        try:
            async for request in request_iterator:
                weight = min(self._concurrency, max(1, -(-len(request.content) // _SLOT_BYTES)))
                for _ in range(weight):
                    await slots.acquire()
                if failed.is_set():
                    for _ in range(weight):
                        slots.release()
                    break
                started.append((request.file_name, asyncio.create_task(one(request, weight))))
                batch_ids.append(request.batch_id)
        finally:
            # Files already started finish either way: their outcome is durable.
            results = await asyncio.gather(*(task for _, task in started), return_exceptions=True)
        stored = zip(batch_ids, results, strict=True)
        await self._audit.record(
            context, "UploadFiles", [(b, r) for b, r in stored if isinstance(r, Receipt)]
        )
        for index, result in enumerate(results):
            if isinstance(result, UploadFailure):
                name = display_file_name(started[index][0])
                await result.abort(
                    context,
                    f"file #{index + 1} ({name!r}): {result.message}. Files sent before it may "
                    "already be stored; sending them again is safe (duplicates are detected).",
                    file_index=str(index),
                    file_name=name,
                )
            if isinstance(result, BaseException):
                raise result
        receipts = [receipt_to_proto(result) for result in results if isinstance(result, Receipt)]
        return file_service_pb2.UploadFilesResponse(receipts=receipts)
