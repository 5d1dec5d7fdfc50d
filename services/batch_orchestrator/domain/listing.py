"""ListBatches paging: page sizes and opaque page tokens."""

from __future__ import annotations

import base64
import binascii

from huleedu.internal.bos.v1.batch_record_pb2 import BatchRecord
from services.batch_orchestrator.domain.errors import InvalidRequest

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
_TOKEN_PREFIX = "bos1:"


def page_size(requested: int) -> int:
    """The page size to use: 0 means the default; above the maximum is refused."""
    if requested == 0:
        return DEFAULT_PAGE_SIZE
    if not 1 <= requested <= MAX_PAGE_SIZE:
        raise InvalidRequest.single(
            "page_size", f"must be between 1 and {MAX_PAGE_SIZE} (0 means 20), got {requested}"
        )
    return requested


def encode_page_token(cursor: str) -> str:
    """An opaque token for the position after `cursor`; empty for no next page."""
    if not cursor:
        return ""
    return base64.urlsafe_b64encode(f"{_TOKEN_PREFIX}{cursor}".encode()).decode().rstrip("=")


def decode_page_token(token: str) -> str:
    """The cursor inside a token from encode_page_token; empty for the first page."""
    if not token:
        return ""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    if not text.startswith(_TOKEN_PREFIX) or len(text) == len(_TOKEN_PREFIX):
        raise InvalidRequest.single(
            "page_token", "is not a token from a previous ListBatches response"
        )
    return text[len(_TOKEN_PREFIX) :]


def summary(batch: BatchRecord) -> BatchRecord:
    """The batch without its per-essay and per-file lists (counts stay), as ListBatches returns
    it: a page of 100 batches of 500 essays would otherwise run to megabytes."""
    brief = BatchRecord()
    brief.CopyFrom(batch)
    for field in (
        "essay_ids",
        "ready_essays",
        "failed_essay_ids",
        "validation_failures",
        "excess_content",
    ):
        brief.ClearField(field)
    for state in brief.phase_states:
        state.ClearField("processed_essays")
        state.ClearField("failed_essay_ids")
    return brief
