"""The commands that call the services' gRPC APIs: `submit`, `status`, `batches`, `essays`,
`text`, `diff` and `delete`. Imported by services/cli/app.py only once one of them is to run."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from services.cli import views
from services.cli.endpoints import resolve_endpoints
from services.cli.errors import ServiceUnavailable
from services.cli.mesh_client import MeshClient
from services.cli.render import announce_on_stderr
from services.cli.retry import RetryHorizon, resolve_horizon_s
from services.cli.submit import SubmitOptions, submit
from services.mesh.tracing import configure_tracing

Command = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


def run(args: argparse.Namespace) -> int:
    """Run the command `args` names; its exit code."""
    configure_tracing("huleedu_cli")  # HULEEDU_TRACING=otlp; nothing at all when off
    return asyncio.run(COMMANDS[args.command](args))


def _color(choice: str) -> bool:
    if choice == "auto":
        return sys.stdout.isatty() and os.environ.get("NO_COLOR", "") == ""
    return choice == "always"


def _client(args: argparse.Namespace) -> MeshClient:
    retries = RetryHorizon(resolve_horizon_s(args), announce_on_stderr)
    return MeshClient(resolve_endpoints(args), retries=retries)


async def _submit(args: argparse.Namespace) -> int:
    options = SubmitOptions(
        paths=args.paths,
        language=args.language,
        course_code=args.course_code,
        title=args.title,
        timeout_s=args.timeout,
        partial_threshold=args.partial_threshold,
        max_file_bytes=int(args.max_file_mb * 1024 * 1024),
        as_json=args.json,
        progress=not args.quiet,
        request_id=args.request_id or "",
        command=args.typed,
    )
    async with _client(args) as client:
        return await submit(client, options)


async def _read(args: argparse.Namespace, view: Callable[[MeshClient], Awaitable[int]]) -> int:
    """A read-only command; reading again is always safe, so an outage past the retry horizon
    ends with the advice to do just that."""
    try:
        async with _client(args) as client:
            return await view(client)
    except ServiceUnavailable as error:
        raise error.with_hint("run the same command again once it answers") from None


async def _status(args: argparse.Namespace) -> int:
    return await _read(args, lambda client: views.status(client, args.batch_id, as_json=args.json))


async def _batches(args: argparse.Namespace) -> int:
    return await _read(
        args, lambda client: views.batches(client, limit=args.limit, as_json=args.json)
    )


async def _essays(args: argparse.Namespace) -> int:
    return await _read(args, lambda client: views.essays(client, args.batch_id, as_json=args.json))


async def _text(args: argparse.Namespace) -> int:
    return await _read(args, lambda client: views.text(client, args.storage_id, output=args.output))


async def _diff(args: argparse.Namespace) -> int:
    return await _read(
        args, lambda client: views.diff(client, args.essay_id, color=_color(args.color))
    )


async def _delete(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        if args.essay:
            await client.delete_essay(args.batch_id, args.essay)
            print(
                f"essay {args.essay} of batch {args.batch_id}: erasure ordered; its texts, "
                "corrections and file are erased within seconds (its slot stays, ERASED)"
            )
            return 0
        reply = await client.delete_batch(args.batch_id)
    print(
        f"batch {reply.batch_id}: erasure ordered; its {reply.essay_count} essay slot(s), files, "
        "texts, corrections and records are erased within seconds"
    )
    return 0


COMMANDS: dict[str, Command] = {
    "submit": _submit,
    "status": _status,
    "batches": _batches,
    "essays": _essays,
    "text": _text,
    "diff": _diff,
    "delete": _delete,
}
