"""`python -m services.content_service`: read settings from the environment and serve."""

from __future__ import annotations

import asyncio
import sys

from services.content_service.bootstrap import run
from services.content_service.settings import ContentServiceSettings
from services.mesh.logging import configure_logging
from services.mesh.settings import SettingsError


def main() -> None:
    """Run the Content Service until SIGTERM or SIGINT."""
    try:
        settings = ContentServiceSettings.from_env()
    except SettingsError as error:
        sys.exit(f"content_service: {error}")
    configure_logging("content_service", settings.log_level)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
