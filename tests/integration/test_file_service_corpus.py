"""Every corpus document (pdf, docx, rtf, html) through gRPC into one batch: each gets the
outcome the in-process table expects, the stored text is what was announced, one event each."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from nats.aio.client import Client
from nats.js import JetStreamContext

from huleedu.common.v1 import common_pb2
from huleedu.content.v1 import content_service_pb2, content_service_pb2_grpc
from huleedu.file.v1 import file_service_pb2
from services.file_service.domain.text import count_words
from services.mesh.settings import NatsSettings
from tests.integration.test_file_service_support import (
    GRPC_OPTIONS,
    file_stub,
    outcome_events,
    register_batch,
    running_content_service,
    running_file_service,
)
from tests.support import CORPUS
from tests.unit.file_service.corpus_expectations import EXPECTED_OUTCOMES


async def test_whole_corpus_through_grpc(
    nats_settings: NatsSettings, nats_js: tuple[Client, JetStreamContext]
) -> None:
    _, js = nats_js
    keys = sorted(EXPECTED_OUTCOMES)
    batch_id, _ = await register_batch(js, expected=len(keys))

    async def requests() -> AsyncIterator[file_service_pb2.UploadFilesRequest]:
        for key in keys:
            yield file_service_pb2.UploadFilesRequest(
                batch_id=batch_id,
                file_name=key.rsplit("/", 1)[1],
                content=(CORPUS / key).read_bytes(),
            )

    async with (
        running_content_service(nats_settings) as content,
        running_file_service(nats_settings, content.port) as files,
        file_stub(files.port) as stub,
    ):
        response = await stub.UploadFiles(requests(), timeout=300)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{content.port}", options=GRPC_OPTIONS)
        reader = content_service_pb2_grpc.ContentServiceStub(channel)
        mismatches = []
        for key, receipt in zip(keys, response.receipts, strict=True):
            if receipt.status == file_service_pb2.UPLOAD_STATUS_ACCEPTED:
                got = "ACCEPTED"
                request = content_service_pb2.GetContentRequest(storage_id=receipt.text_storage_id)
                text = (await reader.GetContent(request)).content.decode("utf-8")
                assert count_words(text) == receipt.word_count, key
            else:
                assert receipt.status == file_service_pb2.UPLOAD_STATUS_REJECTED, key
                got = common_pb2.ValidationErrorCode.Name(receipt.error_code).removeprefix(
                    "VALIDATION_ERROR_CODE_"
                )
            if got != EXPECTED_OUTCOMES[key]:
                mismatches.append((key, got, receipt.detail))
        await channel.close(None)

    assert mismatches == []
    events = await outcome_events(js, batch_id)
    assert len(events) == len(keys)
    assert len({event.file_upload_id for event in events}) == len(keys)
