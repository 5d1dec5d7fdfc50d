"""Helpers shared by the test suites."""

from __future__ import annotations

import asyncio
import inspect
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest

from devstack.cluster_layout import ClusterLayout, any_free_ports
from devstack.nats_cluster import NatsNode, wait_healthy
from services.mesh.auth import create_dev_keys

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS = (REPO_ROOT.parent / "shared" / "corpus").resolve()


async def wait_until(
    predicate: Callable[[], T | Awaitable[T]],
    *,
    timeout_s: float = 20.0,
    interval_s: float = 0.05,
    message: str = "condition",
) -> T:
    """Poll `predicate` (sync or async) until it returns a truthy value; fail at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {message}")
        await asyncio.sleep(interval_s)


def unique(prefix: str) -> str:
    """A fresh id for one test, so tests can share a server."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@contextmanager
def three_nats_nodes(root: Path) -> Iterator[list[NatsNode]]:
    """Three bare nats-server nodes with routes between them (no services) on free ports, with
    their stores under `root`, healthy; stopped afterwards."""
    layout = ClusterLayout.build(ports=any_free_ports)
    nodes = [NatsNode(node, layout.nodes, root, root) for node in layout.nodes]
    try:
        for node in nodes:
            node.start()
        wait_healthy(nodes, deadline=time.monotonic() + 60)
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def store_files_holding(stores: Iterable[Path], needle: bytes) -> list[Path]:
    """Every file under the nats-server store directories that holds `needle` (the erasure
    proof: scanned before, it finds the bytes; after, nothing)."""
    found = []
    for store in stores:
        for root, _directories, files in os.walk(store):
            for name in files:
                path = Path(root, name)
                try:
                    if needle in path.read_bytes():
                        found.append(path)
                except FileNotFoundError:
                    continue  # a block nats-server removed while this walked the store
    return found


@contextmanager
def authentication_on(keys: Path) -> Iterator[None]:
    """Development keys in `keys` and the AUTH_* variables that make services started in this
    process verify bearer tokens and sign their own calls, for the block."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in create_dev_keys(keys).items():
            env.setenv(name, value)
        yield
