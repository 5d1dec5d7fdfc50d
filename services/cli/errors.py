"""The one error the CLI reports: a sentence for a person and the exit code that goes with it."""

from __future__ import annotations

# Exit codes: 0 success (a batch that completed, with or without failures), 1 a batch that failed
# or a request the stack refused, 2 a usage error, 3 the stack (or a part of it) cannot be reached
# or stays unavailable for the whole retry horizon.
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

    def with_hint(self, hint: str) -> CliError:
        """The same error with what to do next appended."""
        return CliError(f"{self.message}; {hint}", self.exit_code)


class ServiceUnavailable(CliError):
    """A service the command had reached stayed unavailable for the whole retry horizon: the
    command can be run again, or resumed, once it is back."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_UNREACHABLE)
