"""The `huleedu` command line: arguments, dispatch, and the one place errors become exit codes."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from services.cli import stream_view, trace_view, views
from services.cli.endpoints import add_endpoint_flags, resolve_endpoints
from services.cli.errors import EXIT_USAGE, CliError, ServiceUnavailable
from services.cli.mesh_client import MeshClient, announce_on_stderr
from services.cli.retry import RetryHorizon, add_retry_flag, resolve_horizon_s
from services.cli.submit import SubmitOptions, submit
from services.mesh.settings import SettingsError
from services.mesh.tracing import configure_tracing

Command = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


def _threshold(value: str) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return number


def _color(choice: str) -> bool:
    if choice == "auto":
        return sys.stdout.isatty() and os.environ.get("NO_COLOR", "") == ""
    return choice == "always"


def _retries(args: argparse.Namespace) -> RetryHorizon:
    return RetryHorizon(resolve_horizon_s(args), announce_on_stderr)


def _client(args: argparse.Namespace) -> MeshClient:
    return MeshClient(resolve_endpoints(args), retries=_retries(args))


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


def parser() -> argparse.ArgumentParser:
    """Every subcommand and its flags."""
    common = argparse.ArgumentParser(add_help=False)
    add_endpoint_flags(common)
    add_retry_flag(common)
    top = argparse.ArgumentParser(
        prog="huleedu",
        description="Submit essays to the HuleEdu mesh and look at what became of them.",
        epilog="Exit codes: 0 done (a batch that completed, with or without failures); 1 a "
        "batch that failed or a refused request; 2 usage; 3 the stack cannot be reached.",
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func: Command, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=help_text, description=help_text)
        sub.set_defaults(func=func)
        return sub

    sub = command("submit", _submit, "submit files and folders as one batch and follow it")
    sub.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    sub.add_argument("--language", default="en", help="ISO 639-1 language (default: en)")
    sub.add_argument("--course-code", default="ENG5", help="course code (default: ENG5)")
    sub.add_argument("--title", default="", help="optional batch title")
    sub.add_argument(
        "--timeout",
        type=int,
        default=0,
        metavar="S",
        help="readiness deadline in seconds (default: the service's, 600)",
    )
    sub.add_argument(
        "--partial-threshold",
        type=_threshold,
        default=0.0,
        metavar="F",
        help="share of slots (0-1) that must hold content at the deadline (default: 1)",
    )
    sub.add_argument(
        "--max-file-mb",
        type=float,
        default=10.0,
        metavar="MB",
        help="files larger than this are reported, not sent (default: 10, the service's limit)",
    )
    sub.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    sub.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    sub.add_argument(
        "--request-id",
        metavar="ID",
        help="RegisterBatch's idempotency key (default: a new UUID); the same ID and arguments "
        "resume a submission: the same batch, and files already sent count once",
    )

    sub = command("status", _status, "show one batch")
    sub.add_argument("batch_id", metavar="BATCH_ID")
    sub.add_argument("--json", action="store_true", help="print the batch as JSON")

    sub = command("batches", _batches, "list recent batches, newest first")
    sub.add_argument("--limit", type=int, default=20, help="how many (default: 20)")
    sub.add_argument("--json", action="store_true", help="print the batches as JSON")

    sub = command("essays", _essays, "list the essays of a batch")
    sub.add_argument("batch_id", metavar="BATCH_ID")
    sub.add_argument("--json", action="store_true", help="print the essays as JSON")

    sub = command("text", _text, "print stored text, e.g. a corrected essay")
    sub.add_argument("storage_id", metavar="STORAGE_ID")
    sub.add_argument("--output", "-o", type=Path, help="write the bytes to a file instead")

    sub = command("diff", _diff, "show an essay's corrections in its original text")
    sub.add_argument("essay_id", metavar="ESSAY_ID")
    sub.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the corrections (default: on a terminal)",
    )

    sub = command(
        "trace",
        _trace,
        "a batch's timeline from the event log: event, service, time",
    )
    sub.add_argument("batch_id", metavar="BATCH_ID")
    sub.add_argument("--json", action="store_true", help="one JSON object per event")

    for name, help_text in (
        ("events", "print the events stored in HULEEDU_EVENTS, decoded"),
        ("dlq", "print the dead letters in HULEEDU_DLQ, decoded, with the reason"),
    ):
        sub = command(name, _events, help_text)
        sub.add_argument("--batch", metavar="BATCH_ID", help="only this batch's messages")
        sub.add_argument("--follow", "-f", action="store_true", help="keep printing new ones")
        sub.add_argument("--last", type=int, metavar="N", help="start N messages from the end")
        sub.add_argument("--json", action="store_true", help="one JSON object per line")
    return top


def run(argv: list[str] | None = None) -> int:
    """Parse, run, and turn every expected failure into one line on stderr."""
    typed = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(typed)
    args.typed = typed  # what `submit` names when it says how to resume
    try:
        configure_tracing("huleedu_cli")  # HULEEDU_TRACING=otlp; nothing at all when off
        command: Command = args.func
        return asyncio.run(command(args))
    except CliError as error:
        print(f"huleedu: {error.message}", file=sys.stderr)
        return error.exit_code
    except SettingsError as error:
        print(f"huleedu: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("huleedu: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_USAGE
