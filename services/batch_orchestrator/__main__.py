"""`python -m services.batch_orchestrator`: read settings, serve until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import sys

from services.batch_orchestrator.bootstrap import start
from services.batch_orchestrator.settings import BosSettings
from services.mesh.lifecycle import wait_for_shutdown_signal
from services.mesh.logging import configure_logging
from services.mesh.metrics import start_metrics_server
from services.mesh.settings import SettingsError
from services.mesh.tracing import configure_tracing


async def _serve(settings: BosSettings) -> None:
    configure_tracing("batch_orchestrator")
    start_metrics_server(settings.metrics)
    running = await start(settings)
    await wait_for_shutdown_signal()
    await running.stop()


def main() -> int:
    """Run BOS; exit 0 after a clean shutdown, 2 on bad settings."""
    try:
        settings = BosSettings.from_env()
    except SettingsError as error:
        print(f"batch_orchestrator: {error}", file=sys.stderr)
        return 2
    configure_logging("batch_orchestrator", settings.log_level)
    asyncio.run(_serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
