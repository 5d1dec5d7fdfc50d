"""One NATS connection per process, reconnecting for as long as the process lives."""

from __future__ import annotations

import logging

import nats
import nats.errors
from nats.aio.client import Client
from nats.js import JetStreamContext

from services.mesh.settings import NatsSettings, redact_url
from services.mesh.tls import nats_tls_context

log = logging.getLogger(__name__)


def _url(client: Client) -> str:
    connected = client.connected_url
    return connected.geturl() if connected is not None else ""


async def connect_nats(settings: NatsSettings, name: str) -> tuple[Client, JetStreamContext]:
    """Connect to NATS (any of the configured servers) and return the client and JetStream."""

    async def on_disconnected() -> None:
        log.info("nats disconnected")

    async def on_reconnected() -> None:
        log.info("nats reconnected", extra={"server": redact_url(_url(client))})

    async def on_error(error: Exception) -> None:
        log.warning("nats error: %s", error)

    client = await nats.connect(
        servers=list(settings.servers),
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        allow_reconnect=True,
        disconnected_cb=on_disconnected,
        reconnected_cb=on_reconnected,
        error_cb=on_error,
        tls=nats_tls_context(),
    )
    log.info("nats connected", extra={"server": redact_url(_url(client))})
    return client, client.jetstream(timeout=settings.request_timeout_s)


async def close_nats(client: Client) -> None:
    """Drain the connection (what was published is flushed, subscriptions end), or close it if
    it cannot drain (e.g. while reconnecting, when there is nothing to flush anyway)."""
    if client.is_closed:
        return
    try:
        await client.drain()
    except nats.errors.Error as error:
        log.warning("nats drain failed; closing: %s", error)
        await client.close()
