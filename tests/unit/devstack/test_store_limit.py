"""JetStream's storage limit as the local stack sets it: NATS_MAX_FILE_STORE when given, else half
the room the store has on its file system (split between the nodes of a local cluster), written
into the server's configuration."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from devstack.nats_server import (
    STORE_SHARE,
    bytes_on_disk,
    max_file_store,
    server_config,
    store_room,
)
from services.mesh.settings import SettingsError
from tests.small_disk import MIB


def test_the_configuration_carries_the_limit_inside_the_jetstream_block(tmp_path: Path) -> None:
    config = server_config(
        port=4222, monitor_port=8222, store_dir=tmp_path, max_file_store="33554432"
    )
    jetstream = config[config.index("jetstream {") : config.index("}")]
    assert "  max_file_store: 33554432\n" in jetstream
    unlimited = server_config(port=4222, monitor_port=8222, store_dir=tmp_path)
    assert "max_file_store" not in unlimited


@pytest.mark.parametrize("size", ["8GB", "512MB", "2g", "1073741824", "64M"])
def test_a_size_in_nats_max_file_store_is_used_as_given(
    size: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NATS_MAX_FILE_STORE", size)
    assert max_file_store(tmp_path / "jetstream") == size


@pytest.mark.parametrize("size", ["lots", "1.5G", "-1", "8 GB", "GB"])
def test_anything_else_in_nats_max_file_store_stops_start_up_naming_it(
    size: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NATS_MAX_FILE_STORE", size)
    with pytest.raises(SettingsError, match="NATS_MAX_FILE_STORE"):
        max_file_store(tmp_path / "jetstream")


def test_by_default_the_store_gets_half_its_room_and_a_node_of_three_a_third_of_that(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NATS_MAX_FILE_STORE", raising=False)
    store = tmp_path / "jetstream"
    store.mkdir()
    (store / "block").write_bytes(bytes(MIB))
    before = shutil.disk_usage(tmp_path).free + MIB
    limit = int(max_file_store(store))
    node_limit = int(max_file_store(store, nodes=3))
    after = shutil.disk_usage(tmp_path).free + bytes_on_disk(store)

    # Other programs write to this file system meanwhile: bound the room from both sides.
    slack = 64 * MIB
    assert STORE_SHARE == 0.5
    assert (min(before, after) - slack) * 0.5 <= limit <= (max(before, after) + slack) * 0.5
    assert abs(node_limit - limit / 3) <= slack


def test_the_room_of_a_store_not_made_yet_is_its_file_systems_free_space(tmp_path: Path) -> None:
    store = tmp_path / "run" / "nats" / "jetstream"
    room = store_room(store)
    assert abs(room - shutil.disk_usage(tmp_path).free) <= 64 * MIB
    assert bytes_on_disk(store) == 0
