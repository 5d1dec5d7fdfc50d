"""The `huleedu` command line: arguments, dispatch, and the one place errors become exit codes.

Only the arguments are understood here. What a command does is in service_commands.py (the
gRPC APIs) or stream_commands.py (JetStream), imported once the arguments are parsed: start-up
pays for one of them, and `huleedu --help` or a usage error for neither (no gRPC, no NATS)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from services.cli.credentials import add_login_flags, login
from services.cli.endpoints import add_endpoint_flags
from services.cli.errors import EXIT_USAGE, CliError
from services.cli.retry import add_retry_flag
from services.mesh.settings import SettingsError

# The commands that read JetStream (services/cli/stream_commands.py); the others call the
# services' gRPC APIs (services/cli/service_commands.py).
STREAM_COMMANDS = frozenset({"events", "dlq", "trace", "audit"})
# The commands that call nothing (services/cli/credentials.py).
LOCAL_COMMANDS = frozenset({"login"})


def _threshold(value: str) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return number


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

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, parents=[common], help=help_text, description=help_text)

    sub = command("submit", "submit files and folders as one batch and follow it")
    sub.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    sub.add_argument(
        "--language",
        default="en",
        help="language tag: en (British and American spellings), en-GB, en-US, sv, ...",
    )
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

    sub = commands.add_parser(
        "login",
        help="get a development token for a tenant (signed with the local stack's issuer key)",
        description="Sign a development token for a tenant with the local stack's issuer key and "
        "store it where later commands read it.",
    )
    add_login_flags(sub)

    sub = command("status", "show one batch")
    sub.add_argument("batch_id", metavar="BATCH_ID")
    sub.add_argument("--json", action="store_true", help="print the batch as JSON")

    sub = command("batches", "list recent batches, newest first")
    sub.add_argument("--limit", type=int, default=20, help="how many (default: 20)")
    sub.add_argument("--json", action="store_true", help="print the batches as JSON")

    sub = command("essays", "list the essays of a batch")
    sub.add_argument("batch_id", metavar="BATCH_ID")
    sub.add_argument("--json", action="store_true", help="print the essays as JSON")

    sub = command("text", "print stored text, e.g. a corrected essay")
    sub.add_argument("storage_id", metavar="STORAGE_ID")
    sub.add_argument("--output", "-o", type=Path, help="write the bytes to a file instead")

    sub = command("diff", "show an essay's corrections in its original text")
    sub.add_argument("essay_id", metavar="ESSAY_ID")
    sub.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the corrections (default: on a terminal)",
    )

    sub = command(
        "delete",
        "erase a batch (or one essay of it) everywhere: files, texts, corrections, records",
    )
    sub.add_argument("batch_id", metavar="BATCH_ID")
    sub.add_argument("--essay", metavar="ESSAY_ID", help="erase only this essay of the batch")

    sub = command("trace", "a batch's timeline from the event log: event, service, time")
    sub.add_argument("batch_id", metavar="BATCH_ID")
    sub.add_argument("--json", action="store_true", help="one JSON object per event")

    sub = command("audit", "who read or wrote a batch's essay content, what and when")
    sub.add_argument("batch_id", metavar="BATCH_ID")
    sub.add_argument(
        "--tenant",
        help="the tenant (school) whose records to read (default: the tenant of the CLI's "
        "token, else $HULEEDU_TENANT, else the local tenant of a stack without authentication)",
    )
    sub.add_argument("--json", action="store_true", help="one JSON object per record")

    for name, help_text in (
        ("events", "print the events stored in HULEEDU_EVENTS, decoded"),
        ("dlq", "print the dead letters in HULEEDU_DLQ, decoded, with the reason"),
    ):
        sub = command(name, help_text)
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
        return _dispatch(args)
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


def _dispatch(args: argparse.Namespace) -> int:
    """Run the parsed command. Its module is imported only now, and only the one it needs: the
    JetStream commands do not load the gRPC stubs, the gRPC ones do not load NATS."""
    if args.command in LOCAL_COMMANDS:
        return login(args)
    if args.command in STREAM_COMMANDS:
        from services.cli import stream_commands  # noqa: PLC0415

        return stream_commands.run(args)
    from services.cli import service_commands  # noqa: PLC0415

    return service_commands.run(args)
