"""The `huleedu` command line: arguments, dispatch, and the one place errors become exit codes."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from services.cli import stream_view, trace_view, views
from services.cli.endpoints import add_endpoint_flags, resolve_endpoints
from services.cli.errors import EXIT_USAGE, CliError
from services.cli.mesh_client import MeshClient
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
    )
    async with MeshClient(resolve_endpoints(args)) as client:
        return await submit(client, options)


async def _status(args: argparse.Namespace) -> int:
    async with MeshClient(resolve_endpoints(args)) as client:
        return await views.status(client, args.batch_id, as_json=args.json)


async def _batches(args: argparse.Namespace) -> int:
    async with MeshClient(resolve_endpoints(args)) as client:
        return await views.batches(client, limit=args.limit, as_json=args.json)


async def _essays(args: argparse.Namespace) -> int:
    async with MeshClient(resolve_endpoints(args)) as client:
        return await views.essays(client, args.batch_id, as_json=args.json)


async def _text(args: argparse.Namespace) -> int:
    async with MeshClient(resolve_endpoints(args)) as client:
        return await views.text(client, args.storage_id, output=args.output)


async def _diff(args: argparse.Namespace) -> int:
    async with MeshClient(resolve_endpoints(args)) as client:
        return await views.diff(client, args.essay_id, color=_color(args.color))


async def _events(args: argparse.Namespace) -> int:
    view = stream_view.DEAD_LETTERS if args.command == "dlq" else stream_view.EVENTS
    return await stream_view.show_stream(
        resolve_endpoints(args).nats_url,
        view,
        batch_id=args.batch,
        follow=args.follow,
        last=args.last,
        as_json=args.json,
    )


async def _trace(args: argparse.Namespace) -> int:
    return await trace_view.show_trace(
        resolve_endpoints(args).nats_url, args.batch_id, as_json=args.json
    )


def parser() -> argparse.ArgumentParser:
    """Every subcommand and its flags."""
    common = argparse.ArgumentParser(add_help=False)
    add_endpoint_flags(common)
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

    sub = command("trace", _trace, "a batch's timeline from the event log: event, service, time")
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
    args = parser().parse_args(argv)
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
