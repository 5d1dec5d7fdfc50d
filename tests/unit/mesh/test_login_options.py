"""The login in NATS_URL also goes to nats-py as connect options, so that a reconnection to a
node the cluster announced (never in NATS_URL) logs in as the same user."""

from __future__ import annotations

from services.mesh.connection import login_options
from services.mesh.settings import NatsSettings


def settings(*servers: str) -> NatsSettings:
    return NatsSettings(servers, 5, 30.0, 1, 3600.0, 120.0)


def test_the_first_servers_user_and_password_are_the_connect_options() -> None:
    nats = settings("nats://spell_checker:p%40ss@n1:4222", "nats://spell_checker:p%40ss@n2:4222")
    assert login_options(nats) == {"user": "spell_checker", "password": "p@ss"}


def test_no_login_or_a_token_adds_no_options() -> None:
    assert login_options(settings("nats://127.0.0.1:4222")) == {}
    assert login_options(settings("nats://s3cret-token@127.0.0.1:4222")) == {}
