"""The commands that read JetStream directly: `events`, `dlq`, `trace` and `audit` (which also
asks ELS for the batch's essays). Imported by services/cli/app.py only once one of them is to
run."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any

from services.cli import audit_view, stream_view, trace_view
from services.cli.credentials import token_tenant
from services.cli.endpoints import resolve_endpoints
from services.cli.errors import EXIT_USAGE, CliError
from services.cli.render import announce_on_stderr
from services.cli.retry import RetryHorizon, resolve_horizon_s
from services.mesh.tracing import configure_tracing

Command = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


def run(args: argparse.Namespace) -> int:
    """Run the command `args` names; its exit code."""
    configure_tracing("huleedu_cli")  # HULEEDU_TRACING=otlp; nothing at all when off
    return asyncio.run(COMMANDS[args.command](args))


def _retries(args: argparse.Namespace) -> RetryHorizon:
    return RetryHorizon(resolve_horizon_s(args), announce_on_stderr)


async def _events(args: argparse.Namespace) -> int:
    view = stream_view.DEAD_LETTERS if args.command == "dlq" else stream_view.EVENTS
    return await stream_view.show_stream(
        resolve_endpoints(args).nats_url,
        view,
        batch_id=args.batch,
        follow=args.follow,
        last=args.last,
        as_json=args.json,
        retries=_retries(args),
    )


async def _trace(args: argparse.Namespace) -> int:
    return await trace_view.show_trace(
        resolve_endpoints(args).nats_url, args.batch_id, as_json=args.json, retries=_retries(args)
    )


def _audit_tenant(named: str | None) -> str:
    """The tenant whose records `huleedu audit` reads: the token's; one named beside a token must
    be the token's own, since the batch's essays are looked up with that token."""
    own = token_tenant()
    if own is None:
        return named if named is not None else os.environ.get("HULEEDU_TENANT", "")
    if named is not None and named != own:
        raise CliError(
            f"--tenant {named} is not the tenant of the CLI's token ({own}); log in to that "
            f"tenant (`huleedu login --tenant {named}`) to read its records",
            EXIT_USAGE,
        )
    return own


async def _audit(args: argparse.Namespace) -> int:
    from services.cli.mesh_client import MeshClient  # noqa: PLC0415 (gRPC for this one only)

    tenant = _audit_tenant(args.tenant)
    endpoints = resolve_endpoints(args)
    async with MeshClient(endpoints, retries=_retries(args)) as mesh:
        essays = await mesh.list_batch_essays(args.batch_id)
    client, reads = await stream_view.connect(endpoints.nats_url, _retries(args))
    try:
        entries, contents = await audit_view.audit_trail(reads, tenant, args.batch_id, essays)
    finally:
        await stream_view.close_quietly(client)
    return audit_view.print_trail(args.batch_id, entries, contents, as_json=args.json)


COMMANDS: dict[str, Command] = {
    "events": _events,
    "dlq": _events,
    "trace": _trace,
    "audit": _audit,
}
