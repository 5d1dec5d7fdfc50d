"""`python -m services.file_service`: read settings from the environment and serve."""

from __future__ import annotations

import asyncio
import sys

from services.file_service.bootstrap import run
from services.file_service.settings import FileServiceSettings
from services.mesh.logging import configure_logging
from services.mesh.settings import SettingsError


def main() -> None:
    """Run the File Service until SIGTERM or SIGINT."""
    try:
        settings = FileServiceSettings.from_env()
    except SettingsError as error:
        sys.exit(f"file_service: {error}")
    configure_logging("file_service", settings.log_level)
    asyncio.run(run(settings))


# The guard matters: extraction workers re-import this module as __mp_main__.
if __name__ == "__main__":
    main()
