"""One NATS connection per process, reconnecting for as long as the process lives."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import unquote, urlsplit

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


class Reconnects:
    """What to do each time the connection is back after it was lost: parts that hold server
    state the outage may have broken (e.g. a KV watch's consumer) start it again."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[], Awaitable[None]]] = []

    def add(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run `callback` after every reconnection."""
        self._callbacks.append(callback)

    async def fire(self) -> None:
        """Run every callback; one that fails is logged and does not stop the others."""
        for callback in list(self._callbacks):
            try:
                await callback()
            except Exception:
                log.exception("a reconnection callback failed")


def login_options(settings: NatsSettings) -> dict[str, str]:
    """The user and password in NATS_URL (its first server's) as connect options. nats-py logs in
    to the servers a cluster announces (gossiped, so never in NATS_URL) only with these: a login
    inside a URL is used for that URL alone, and a reconnection to an announced node would be
    refused."""
    first = urlsplit(settings.servers[0]) if settings.servers else None
    if first is None or first.username is None or first.password is None:
        return {}
    return {"user": unquote(first.username), "password": unquote(first.password)}


async def connect_nats(
    settings: NatsSettings, name: str, reconnects: Reconnects | None = None
) -> tuple[Client, JetStreamContext]:
    """Connect to NATS (any of the configured servers) and return the client and JetStream;
    `reconnects` run after each reconnection."""

    async def on_disconnected() -> None:
        log.info("nats disconnected")

    async def on_reconnected() -> None:
        log.info("nats reconnected", extra={"server": redact_url(_url(client))})
        if reconnects is not None:
            await reconnects.fire()

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
        inbox_prefix=settings.inbox_prefix,
        **login_options(settings),
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
