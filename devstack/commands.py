"""How the devstack command lines run a parsed command: one line on stderr for an expected
error, never a traceback; SIGTERM ends the command like Ctrl-C, so what it started is stopped."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType


def say(line: str) -> None:
    """A line for the person at the terminal (stderr, flushed)."""
    print(line, file=sys.stderr, flush=True)


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def run_command(
    args: argparse.Namespace, *, program: str, expected: tuple[type[Exception], ...]
) -> int:
    """Run `args.func(args)`; an `expected` error becomes one line `program: error`, exit 1."""
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    try:
        return int(args.func(args))
    except expected as error:
        say(f"{program}: {error}")
        return 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130
