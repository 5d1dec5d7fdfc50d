"""`huleedu status`, `batches`, `essays`, `text` and `diff`: read-only views of the mesh."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from google.protobuf.message import Message

from huleedu.batch.v1.batch_service_pb2 import Batch
from huleedu.common.v1 import common_pb2
from services.cli.errors import EXIT_FAILED, EXIT_OK, CliError
from services.cli.mesh_client import MeshClient
from services.cli.render import (
    apply_corrections,
    batch_details,
    format_table,
    highlight_corrections,
    highlight_word_diff,
    timestamp_text,
)
from services.cli.results import batch_status, essay_status


def as_dict(message: Message) -> dict[str, Any]:
    """A message as JSON-ready data with the proto field names."""
    # Only --json needs it; `huleedu submit` loads this module with the other gRPC commands
    # (services/cli/service_commands.py) and never does.
    from google.protobuf.json_format import MessageToDict  # noqa: PLC0415

    return MessageToDict(message, preserving_proto_field_name=True)


def print_json(value: Any) -> None:
    """Pretty JSON on stdout."""
    print(json.dumps(value, indent=2, ensure_ascii=False))


async def status(client: MeshClient, batch_id: str, *, as_json: bool) -> int:
    """A batch's state, counts, phases and failures."""
    batch = await client.get_batch(batch_id)
    if as_json:
        print_json(as_dict(batch))
    else:
        print(batch_details(batch))
    return EXIT_OK


async def batches(client: MeshClient, *, limit: int, as_json: bool) -> int:
    """The most recent batches, newest first."""
    found: list[Batch] = []
    token = ""
    while len(found) < limit:
        page = await client.list_batches(min(100, limit - len(found)), token)
        found.extend(page.batches)
        token = page.next_page_token
        if not token:
            break
    if as_json:
        print_json([as_dict(batch) for batch in found])
        return EXIT_OK
    if not found:
        print("no batches yet: submit one with `huleedu submit examples/essays`")
        return EXIT_OK
    rows = [
        (
            batch.batch_id,
            batch_status(batch.status),
            batch.course_code,
            str(batch.counts.expected),
            str(batch.counts.spellchecked),
            str(batch.counts.failed_validation + batch.counts.spellcheck_failed),
            timestamp_text(batch.created_at),
        )
        for batch in found
    ]
    header = ("BATCH ID", "STATUS", "COURSE", "ESSAYS", "CHECKED", "FAILED", "CREATED")
    print(format_table(header, rows))
    return EXIT_OK


async def essays(client: MeshClient, batch_id: str, *, as_json: bool) -> int:
    """Every essay slot of a batch."""
    slots = await client.list_batch_essays(batch_id)
    if as_json:
        print_json([as_dict(essay) for essay in slots])
        return EXIT_OK
    rows = [
        (
            essay.essay_id,
            essay.original_file_name or "-",
            essay_status(essay.status),
            str(essay.word_count),
            str(essay.correction_count),
            essay.corrected_text_storage_id or essay.text_storage_id or "-",
            essay.failure_reason
            or (f"warning: {essay.spellcheck_warning}" if essay.spellcheck_warning else ""),
        )
        for essay in slots
    ]
    header = ("ESSAY ID", "FILE", "STATUS", "WORDS", "CORRECTIONS", "TEXT ID", "FAILURE")
    print(format_table(header, rows, max_width=64))
    return EXIT_OK


async def text(client: MeshClient, storage_id: str, *, output: Path | None) -> int:
    """Stored content: text on stdout, or any bytes to a file."""
    reply = await client.get_content(storage_id)
    if output is not None:
        await asyncio.to_thread(output.write_bytes, reply.content)
        print(f"wrote {len(reply.content)} bytes to {output}", file=sys.stderr)
        return EXIT_OK
    try:
        decoded = reply.content.decode("utf-8")
    except UnicodeDecodeError:
        kind = common_pb2.ContentKind.Name(reply.kind)
        raise CliError(
            f"{storage_id} holds {len(reply.content)} bytes of {reply.media_type or kind}, not "
            "text: save it with --output FILE"
        ) from None
    sys.stdout.write(decoded if decoded.endswith("\n") else decoded + "\n")
    return EXIT_OK


async def diff(client: MeshClient, essay_id: str, *, color: bool) -> int:
    """An essay's original text with its corrections highlighted in place."""
    essay = await client.get_essay(essay_id)
    if not essay.corrected_text_storage_id:
        raise CliError(
            f"essay {essay_id} is {essay_status(essay.status)}: it has no corrected text yet"
            + (f" ({essay.failure_reason})" if essay.failure_reason else ""),
            EXIT_FAILED,
        )
    original = (await client.get_content(essay.text_storage_id)).content.decode("utf-8")
    corrected = (await client.get_content(essay.corrected_text_storage_id)).content.decode("utf-8")
    print(f"--- original   {essay.text_storage_id}  ({essay.original_file_name})")
    print(f"+++ corrected  {essay.corrected_text_storage_id}")
    if apply_corrections(original, essay.corrections) == corrected:
        body = highlight_corrections(original, essay.corrections, color)
    else:
        body = highlight_word_diff(original, corrected, color)
    print(body.rstrip("\n"))
    listed = ", ".join(f"{c.original}→{c.replacement}" for c in essay.corrections)
    print(f"\n{len(essay.corrections)} correction(s)" + (f": {listed}" if listed else ""))
    return EXIT_OK
