"""`python -m services.spell_checker`: read the settings and run the Spell Checker."""

from __future__ import annotations

import asyncio
import sys

from services.mesh.logging import configure_logging
from services.mesh.settings import SettingsError
from services.spell_checker.bootstrap import run
from services.spell_checker.config import SERVICE_NAME, SpellCheckerSettings


def main() -> None:
    """Run the Spell Checker until SIGTERM or SIGINT."""
    try:
        settings = SpellCheckerSettings.from_env()
    except SettingsError as error:
        sys.exit(f"{SERVICE_NAME}: {error}")
    configure_logging(SERVICE_NAME, settings.log_level)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
