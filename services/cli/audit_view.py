"""`huleedu audit BATCH_ID`: who read or wrote the batch's essay content, what and when, from the
audit log (HULEEDU_AUDIT, services.mesh.audit), within one tenant.

The batch's records are of two kinds. Uploads know their batch and are on its subject. The
Content Service knows only storage ids, so its records are found by the batch's storage ids: those
its uploads stored (raw bytes, extracted text) and those ELS lists for its essays (text, corrected
text). Records are read message by message with the stream's get-message API, filtered by subject
on the server, so reading creates no consumer."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError
from nats.js.errors import NotFoundError

from huleedu.audit.v1 import audit_pb2
from huleedu.essay.v1.essay_service_pb2 import Essay
from services.cli.endpoints import START_HINT
from services.cli.errors import EXIT_FAILED, EXIT_OK, CliError
from services.cli.render import format_table
from services.cli.stream_view import NatsReads
from services.mesh.audit import batch_subject, content_subjects
from services.mesh.streams import AUDIT_STREAM

_ACTIONS = {
    audit_pb2.AUDIT_ACTION_CONTENT_READ: "READ",
    audit_pb2.AUDIT_ACTION_CONTENT_WRITTEN: "WRITTEN",
}


@dataclass(frozen=True)
class StoredContent:
    """What one storage id of the batch holds: whose essay, which form of it."""

    essay_id: str
    form: str  # raw, text, corrected or details (the corrections and unknown words)


@dataclass(frozen=True)
class AuditEntry:
    """One record of the batch, with the storage ids it names that belong to the batch."""

    seq: int
    record: audit_pb2.AuditRecord
    named: tuple[str, ...]
    others: int  # storage ids of the call that are not the batch's


def batch_contents(essays: Iterable[Essay]) -> dict[str, StoredContent]:
    """The storage ids ELS lists for the batch's essays; an id shared by two forms (a .txt
    upload is its own text) is named by the first."""
    found: dict[str, StoredContent] = {}
    for essay in essays:
        for form, storage_id in (
            ("raw", essay.raw_storage_id),
            ("text", essay.text_storage_id),
            ("corrected", essay.corrected_text_storage_id),
            ("details", essay.spellcheck_details_storage_id),
        ):
            if storage_id:
                found.setdefault(storage_id, StoredContent(essay.essay_id, form))
    return found


async def _records(reads: NatsReads, subject: str) -> list[tuple[int, audit_pb2.AuditRecord]]:
    """Every record stored on `subject` (a filter), oldest first."""
    found: list[tuple[int, audit_pb2.AuditRecord]] = []
    sequence = 1
    while True:
        try:
            message = await reads.get_msg(AUDIT_STREAM, seq=sequence, subject=subject)
        except NotFoundError:
            return found
        sequence = (message.seq or sequence) + 1
        try:
            found.append((message.seq or 0, audit_pb2.AuditRecord.FromString(message.data or b"")))
        except DecodeError:
            continue  # not a record (a storage probe of services.mesh.storage_health)


def batch_entries(
    uploads: Sequence[tuple[int, audit_pb2.AuditRecord]],
    content: Sequence[tuple[int, audit_pb2.AuditRecord]],
    storage_ids: Iterable[str],
) -> list[AuditEntry]:
    """The batch's entries in time order: its upload records, and the Content Service records
    that name any of its storage ids (`storage_ids`: those ELS lists, plus the uploads' own). A
    record stored twice under one id is shown once."""
    ids = set(storage_ids)
    for _, record in uploads:
        ids.update(record.storage_ids)
    entries: dict[str, AuditEntry] = {}
    for seq, record in uploads:
        entries.setdefault(record.record_id, AuditEntry(seq, record, tuple(record.storage_ids), 0))
    for seq, record in content:
        named = tuple(storage_id for storage_id in record.storage_ids if storage_id in ids)
        if named and record.record_id not in entries:
            others = len(record.storage_ids) - len(named)
            entries[record.record_id] = AuditEntry(seq, record, named, others)
    return sorted(entries.values(), key=lambda e: (e.record.time.ToNanoseconds(), e.seq))


def entry_data(entry: AuditEntry, contents: Mapping[str, StoredContent]) -> dict[str, Any]:
    """An entry as JSON-ready data."""
    record = entry.record
    return {
        "seq": entry.seq,
        "time": _time_text(record),
        "tenant": record.tenant,
        "subject": record.subject,
        "role": record.role,
        "action": _ACTIONS.get(record.action, "UNSPECIFIED"),
        "service": record.service,
        "method": record.method,
        "outcome": record.outcome,
        "batch_id": record.batch_id,
        "record_id": record.record_id,
        "content": [
            {"storage_id": storage_id, **_content_data(contents.get(storage_id))}
            for storage_id in entry.named
        ],
        "other_storage_ids": entry.others,
        "file_upload_ids": list(record.file_upload_ids),
    }


def _content_data(content: StoredContent | None) -> dict[str, str]:
    if content is None:
        return {"essay_id": "", "form": ""}
    return {"essay_id": content.essay_id, "form": content.form}


def _time_text(record: audit_pb2.AuditRecord) -> str:
    return record.time.ToDatetime().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _what(entry: AuditEntry, contents: Mapping[str, StoredContent]) -> str:
    parts = []
    for storage_id in entry.named:
        content = contents.get(storage_id)
        if content is None:
            parts.append(f"{storage_id[:12]}")
        else:
            parts.append(f"{content.form} of {content.essay_id[:8]} ({storage_id[:12]})")
    if entry.record.file_upload_ids:
        parts.insert(0, f"{len(entry.record.file_upload_ids)} file(s):")
    if entry.others:
        parts.append(f"+{entry.others} of other batches")
    return " ".join(parts)


def format_entries(
    batch_id: str, entries: Sequence[AuditEntry], contents: Mapping[str, StoredContent]
) -> str:
    """The entries as a table, oldest first."""
    rows = [
        (
            _time_text(e.record),
            e.record.subject or "-",
            e.record.role or "-",
            e.record.tenant or "(local)",
            _ACTIONS.get(e.record.action, "UNSPECIFIED"),
            f"{e.record.service} {e.record.method.rsplit('/', 1)[-1]}",
            e.record.outcome,
            _what(e, contents),
        )
        for e in entries
    ]
    header = ("TIME", "WHO", "ROLE", "TENANT", "ACTION", "BY", "OUTCOME", "WHAT")
    return f"batch {batch_id}: {len(entries)} record(s)\n" + format_table(header, rows)


async def audit_trail(
    reads: NatsReads, tenant: str, batch_id: str, essays: Sequence[Essay]
) -> tuple[list[AuditEntry], dict[str, StoredContent]]:
    """The batch's entries within `tenant`, and what each of its storage ids holds."""
    try:
        await reads.stream_info(AUDIT_STREAM)
    except NotFoundError:
        raise CliError(f"stream {AUDIT_STREAM} does not exist yet ({START_HINT})") from None
    contents = batch_contents(essays)
    uploads = await _records(reads, batch_subject(tenant, batch_id))
    content = await _records(reads, content_subjects(tenant))
    return batch_entries(uploads, content, contents), contents


def print_trail(
    batch_id: str,
    entries: Sequence[AuditEntry],
    contents: Mapping[str, StoredContent],
    *,
    as_json: bool,
) -> int:
    """Print the entries (one JSON object per line with `as_json`); exit 1 when there are none."""
    if not entries:
        print(f"no audit records of batch {batch_id} in {AUDIT_STREAM} for this tenant")
        return EXIT_FAILED
    if as_json:
        for entry in entries:
            print(json.dumps(entry_data(entry, contents), ensure_ascii=False))
    else:
        print(format_entries(batch_id, entries, contents))
    return EXIT_OK
