"""`huleedu` (the console script) and `python -m services.cli`."""

from __future__ import annotations

import sys

from services.cli.app import run


def main() -> int:
    """Run the command line with the process's arguments."""
    return run(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
