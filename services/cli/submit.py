"""`huleedu submit`: files and folders → RegisterBatch → UploadFiles → WatchBatch → results."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shlex
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huleedu.batch.v1 import batch_service_pb2
from huleedu.common.v1 import common_pb2
from huleedu.essay.v1.essay_service_pb2 import Essay
from huleedu.file.v1 import file_service_pb2
from services.cli.errors import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, CliError
from services.cli.mesh_client import MeshClient
from services.cli.render import ProgressLine, format_table
from services.cli.results import (
    SUCCEEDED,
    TABLE_HEADER,
    TERMINAL,
    LocalDuplicate,
    LocalFailure,
    batch_status,
    progress_text,
    result_document,
    summary_line,
    table_rows,
)
from services.mesh import tracing


@dataclass(frozen=True)
class SubmitOptions:
    """What `huleedu submit` was asked to do."""

    paths: Sequence[Path]
    language: str = "en"
    course_code: str = "ENG5"
    title: str = ""
    timeout_s: int = 0
    partial_threshold: float = 0.0
    max_file_bytes: int = 10 * 1024 * 1024
    as_json: bool = False
    progress: bool = True
    # RegisterBatch's request_id; empty: a new UUID.
    request_id: str = ""
    # The arguments as typed after `huleedu`, to name the command that resumes this submission.
    command: Sequence[str] = ()


@dataclass(frozen=True)
class Upload:
    """One file to send: the name the batch will know it by, and its bytes."""

    file_name: str
    content: bytes


@dataclass(frozen=True)
class Submission:
    """The files of a submission, split into what is sent and what is reported locally."""

    uploads: list[Upload]
    failures: list[LocalFailure]
    duplicates: list[LocalDuplicate]


def collect_files(paths: Sequence[Path]) -> list[tuple[Path, str]]:
    """Every file named or inside a named folder (recursively, hidden files skipped), in a
    stable order, with the name it is uploaded as: its path relative to the folder given."""
    found: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_file():
            found.append((path, path.name))
        elif path.is_dir():
            for child in sorted(path.rglob("*")):
                relative = child.relative_to(path)
                if child.is_file() and not any(p.startswith(".") for p in relative.parts):
                    found.append((child, relative.as_posix()))
        else:
            raise CliError(f"no such file or folder: {path}", EXIT_USAGE)
    if not found:
        raise CliError("no files to submit in " + ", ".join(map(str, paths)), EXIT_USAGE)
    return found


def prepare(files: Sequence[tuple[Path, str]], max_file_bytes: int) -> Submission:
    """Read the files; the same bytes twice are sent once (a batch fills one slot per distinct
    content), and files over the size limit are reported instead of sent."""
    uploads: list[Upload] = []
    failures: list[LocalFailure] = []
    duplicates: list[LocalDuplicate] = []
    first_by_digest: dict[str, str] = {}
    for path, name in files:
        size = path.stat().st_size
        if size > max_file_bytes:
            failures.append(
                LocalFailure(
                    name,
                    "FILE_TOO_LARGE",
                    f"{size / 2**20:.1f} MiB is over the {max_file_bytes / 2**20:.0f} MiB "
                    "limit; not uploaded",
                )
            )
            continue
        content = path.read_bytes()
        digest = hashlib.sha256(content).hexdigest()
        if digest in first_by_digest:
            duplicates.append(LocalDuplicate(name, first_by_digest[digest]))
            continue
        first_by_digest[digest] = name
        uploads.append(Upload(name, content))
    return Submission(uploads, failures, duplicates)


def registration(options: SubmitOptions, count: int) -> batch_service_pb2.RegisterBatchRequest:
    """The RegisterBatch request: one slot per file sent, and the request_id asked for or a new
    one, so that sending this request again (not building another) can never register a second
    batch."""
    request = batch_service_pb2.RegisterBatchRequest(
        expected_essay_count=count,
        course_code=options.course_code,
        language=options.language,
        title=options.title,
        request_id=options.request_id or str(uuid.uuid4()),
    )
    if options.timeout_s or options.partial_threshold:
        request.readiness.CopyFrom(
            common_pb2.ReadinessConfig(
                timeout_seconds=options.timeout_s,
                partial_batch_threshold=options.partial_threshold,
            )
        )
    return request


def resume_command(options: SubmitOptions, request_id: str) -> str:
    """The command that takes this submission up again: the same arguments with its request_id
    (BOS answers with the batch that request_id registered; the File Service answers the files
    it already has DUPLICATE)."""
    typed = list(options.command)
    if typed and options.request_id:
        return "huleedu " + shlex.join(typed)
    words = typed or ["submit", *map(str, options.paths)]
    return "huleedu " + shlex.join([words[0], "--request-id", request_id, *words[1:]])


async def _follow(
    client: MeshClient, batch_id: str, progress: ProgressLine
) -> batch_service_pb2.Batch | None:
    last = None
    async for batch in client.watch_batch(batch_id):
        last = batch
        progress.show(progress_text(batch))
        if batch.status in TERMINAL:
            break
    return last


async def batch_essays(client: MeshClient, batch_id: str, *, corrections: bool) -> list[Essay]:
    """Every slot of the batch (ListBatchEssays: counts, no corrections); with `corrections`,
    the spell-checked ones with their corrections too (a GetEssay each, which only the --json
    document needs)."""
    slots = await client.list_batch_essays(batch_id)
    if not corrections:
        return slots
    done = common_pb2.ESSAY_STATUS_SPELLCHECKED_SUCCESS
    checked = [essay.essay_id for essay in slots if essay.status == done]
    detailed = await asyncio.gather(*(client.get_essay(essay_id) for essay_id in checked))
    by_id = {essay.essay_id: essay for essay in detailed}
    return [by_id.get(essay.essay_id, essay) for essay in slots]


async def _upload_and_follow(
    client: MeshClient, submission: Submission, batch_id: str, progress: ProgressLine
) -> batch_service_pb2.Batch:
    """Upload while following the batch; the batch once it is terminal."""
    watch = asyncio.create_task(_follow(client, batch_id, progress))
    try:
        await client.upload_files(
            [
                file_service_pb2.UploadFilesRequest(
                    batch_id=batch_id, file_name=upload.file_name, content=upload.content
                )
                for upload in submission.uploads
            ]
        )
        last = await watch
    finally:
        watch.cancel()
        progress.finish()
    if last is None or last.status not in TERMINAL:
        last = await client.get_batch(batch_id)
        if last.status not in TERMINAL:
            raise CliError(
                f"lost the watch on batch {batch_id} while {batch_status(last.status)}; "
                f"follow it with `huleedu status {batch_id}`"
            )
    return last


async def submit(client: MeshClient, options: SubmitOptions) -> int:
    """Submit the files, follow the batch to its end and print the results. When a service
    stays unavailable past the retry horizon, the error names the command that resumes."""
    submission = prepare(collect_files(options.paths), options.max_file_bytes)
    if not submission.uploads:
        raise CliError("nothing to upload: every file is over the size limit", EXIT_USAGE)
    request = registration(options, len(submission.uploads))
    try:
        return await _register_and_follow(client, options, submission, request)
    except CliError as error:
        if error.exit_code != EXIT_UNREACHABLE:
            raise
        command = resume_command(options, request.request_id)
        hint = f"resume with `{command}` (same batch; files sent count once)"
        raise error.with_hint(hint) from None


async def _register_and_follow(
    client: MeshClient,
    options: SubmitOptions,
    submission: Submission,
    request: batch_service_pb2.RegisterBatchRequest,
) -> int:
    """Register, upload, follow the batch to its end, print the results; the exit code."""
    progress = ProgressLine(sys.stderr, enabled=options.progress)
    # One root span: RegisterBatch, the uploads and everything they cause form one trace.
    with tracing.span("huleedu submit", files=str(len(submission.uploads))):
        registered = await client.register_batch(request)
        batch_id = registered.batch_id
        if options.progress:
            print(
                f"batch {batch_id}: uploading {len(submission.uploads)} file(s)",
                file=sys.stderr,
                flush=True,
            )
        try:
            batch = await _upload_and_follow(client, submission, batch_id, progress)
        except asyncio.CancelledError:
            print(f"huleedu: batch {batch_id} goes on: huleedu status {batch_id}", file=sys.stderr)
            raise
    essays = await batch_essays(client, batch_id, corrections=options.as_json)
    document = result_document(
        batch,
        essays,
        local_failures=submission.failures,
        local_duplicates=submission.duplicates,
    )
    print_result(document, progress.elapsed_s, as_json=options.as_json)
    return EXIT_OK if batch.status in SUCCEEDED else EXIT_FAILED


def print_result(document: dict[str, Any], elapsed_s: float, *, as_json: bool) -> None:
    """The JSON document, or a summary line and a table, on stdout."""
    if as_json:
        print(json.dumps(document, indent=2, ensure_ascii=False))
        return
    print(summary_line(document, elapsed_s))
    print()
    print(format_table(TABLE_HEADER, table_rows(document)))
    checked = [e for e in document["essays"] if e["status"] == "SPELLCHECKED_SUCCESS"]
    print()
    print(f"more: huleedu essays {document['batch_id']}")
    if checked:
        example = max(checked, key=lambda e: e["correction_count"])
        print(f"      huleedu diff {example['essay_id']}   # {example['file_name']}")
