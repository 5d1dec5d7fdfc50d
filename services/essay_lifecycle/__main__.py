"""`python -m services.essay_lifecycle`: read settings, run until SIGTERM."""

from __future__ import annotations

import asyncio
import sys

from services.essay_lifecycle.bootstrap import run
from services.essay_lifecycle.settings import EssayLifecycleSettings
from services.mesh.logging import configure_logging
from services.mesh.settings import SettingsError


def main() -> None:
    """Run ELS; exit 0 after a clean shutdown, 2 on bad settings."""
    try:
        settings = EssayLifecycleSettings.from_env()
    except SettingsError as error:
        print(f"essay_lifecycle: {error}", file=sys.stderr)
        sys.exit(2)
    configure_logging("essay_lifecycle", settings.log_level)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
