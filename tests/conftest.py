"""Fixtures: a real nats-server with JetStream for each test module, so no module's streams,
durables or leftover redeliveries reach another's; one spell-index cache and one set of spell
checkers per session (unit and integration tests share them)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from devstack.nats_server import NatsServer, settings_for
from services.mesh.connection import connect_nats
from services.mesh.settings import NatsSettings
from services.mesh.streams import ensure_streams
from services.spell_checker.adapters.checkers import CheckerConfig, Engine, LanguageCheckers
from services.spell_checker.domain.checker import EssayChecker

# Per-test timeouts by tier (pytest-timeout), unless a test sets its own: a unit test is pure
# logic and takes seconds; integration tests start servers and processes; E2E and cluster tests
# start whole stacks in their first test's setup.
TIER_TIMEOUT_S = {"unit": 60, "integration": 300, "e2e": 600, "cluster": 600}


SERVER_FIXTURES = frozenset({"nats_server", "nats_settings", "nats_js"})


def pytest_configure(config: pytest.Config) -> None:
    """Keep the CLI's own token file out of the tests: `make up` logs the developer's CLI in
    (~/.config/huleedu/token), and a test of the CLI must see only the token it gives."""
    os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="huleedu-test-config-")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give each test its tier's timeout; refuse a unit test that asks for a server."""
    tests_dir = Path(__file__).parent
    for item in items:
        if not item.path.is_relative_to(tests_dir):
            continue  # bench/tests: the benchmarks' own tests keep the default timeout
        tier = item.path.relative_to(tests_dir).parts[0]
        if tier == "unit" and SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            raise pytest.UsageError(
                f"{item.nodeid} starts a nats-server: it belongs in tests/integration"
            )
        if tier in TIER_TIMEOUT_S and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TIER_TIMEOUT_S[tier]))


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A real nats-server -js on a free port with a temporary store, for one test module."""
    server = NatsServer(Path(tmp_path_factory.mktemp("nats")))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def nats_settings(nats_server: NatsServer) -> NatsSettings:
    """Settings that point at the module's nats-server."""
    return settings_for(nats_server.url)


@pytest.fixture
async def nats_js(nats_settings: NatsSettings) -> AsyncIterator[tuple[Client, JetStreamContext]]:
    """A connection with the streams provisioned, closed after the test."""
    client, js = await connect_nats(nats_settings, "test")
    await ensure_streams(js, nats_settings)
    yield client, js
    await client.drain()


@pytest.fixture(scope="session")
def index_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh spell-index cache for the session (the first test to need a language builds it)."""
    return tmp_path_factory.mktemp("spell-index")


@pytest.fixture(scope="session")
def checkers(index_cache_dir: Path) -> LanguageCheckers:
    """Symmetric-delete checkers with no configured allow-list."""
    return LanguageCheckers(CheckerConfig(Engine.SYMSPELL, index_cache_dir))


@pytest.fixture(scope="session")
def english(checkers: LanguageCheckers) -> EssayChecker:
    """The English checker."""
    return checkers.checker("en")
