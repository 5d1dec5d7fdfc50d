"""The one error the CLI reports: a sentence for a person and the exit code that goes with it."""

from __future__ import annotations

# Exit codes: 0 success (a batch that completed, with or without failures), 1 a batch that failed
# or a request the stack refused, 2 a usage error, 3 the stack (or a part of it) cannot be reached.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3


class CliError(Exception):
    """Printed as one line on stderr; the process exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
