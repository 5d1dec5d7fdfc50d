"""The cluster's layout and node configuration, checked without starting anything (except
`nats-server -t`, which only parses a configuration)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from devstack.cluster_layout import ClusterLayout, any_free_ports
from devstack.nats_cluster import NatsNode
from devstack.nats_server import nats_server_binary, server_config
from devstack.stack import SERVICES
from services.mesh.settings import DEFAULT_ADDRS


def test_make_cluster_up_listens_on_documented_ports() -> None:
    layout = ClusterLayout.build()
    assert [n.client_port for n in layout.nodes] == [4222, 4223, 4224]
    assert [n.route_port for n in layout.nodes] == [6222, 6223, 6224]
    assert [n.monitor_port for n in layout.nodes] == [8222, 8223, 8224]
    assert layout.replicas == 3
    assert layout.nats_url == "nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224"
    for spec in SERVICES:
        first, second = layout.of(spec.name)
        assert first.grpc_addr == DEFAULT_ADDRS[spec.addr_variable]  # `huleedu` needs no settings
        port = int(first.grpc_addr.rsplit(":", 1)[1])
        assert second.grpc_addr == f"127.0.0.1:{port + 10}"
        assert first.metrics_addr != second.metrics_addr
    assert len({addr for _, addr in layout.bound_addresses()}) == len(layout.bound_addresses())


def test_each_service_has_instances_on_different_home_nodes() -> None:
    layout = ClusterLayout.build()
    homes = [i.home_node for i in layout.instances]
    assert sorted(set(homes)) == [0, 1, 2]
    for spec in SERVICES:
        first, second = layout.of(spec.name)
        assert first.home_node != second.home_node


def test_an_instance_gets_every_node_with_its_home_first_and_its_own_addresses() -> None:
    layout = ClusterLayout.build()
    els2 = layout.instance("essay_lifecycle-2")
    env = layout.instance_env(els2)
    urls = env["NATS_URL"].split(",")
    assert sorted(urls) == sorted(n.client_url for n in layout.nodes)
    assert urls[0] == layout.nodes[els2.home_node].client_url
    assert env["NATS_REPLICAS"] == "3"
    assert env["ESSAY_LIFECYCLE_ADDR"] == els2.grpc_addr
    assert env["ESSAY_LIFECYCLE_METRICS_ADDR"] == els2.metrics_addr
    # it dials every Content Service instance (round-robin, skipping one that is down)
    assert env["CONTENT_SERVICE_ADDR"].split(",") == [
        instance.grpc_addr for instance in layout.of("content_service")
    ]


def test_with_one_content_service_every_instance_dials_it() -> None:
    layout = ClusterLayout.build(instances={"content_service": 1})
    spell2 = layout.instance("spell_checker-2")
    assert (
        layout.instance_env(spell2)["CONTENT_SERVICE_ADDR"]
        == layout.of("content_service")[0].grpc_addr
    )


def test_the_stream_creators_start_alone_then_the_rest_then_second_instances() -> None:
    waves = [[i.name for i in wave] for wave in ClusterLayout.build().start_waves()]
    assert waves == [
        ["content_service-1", "batch_orchestrator-1"],
        ["file_service-1", "essay_lifecycle-1", "spell_checker-1"],
        [f"{spec.name}-2" for spec in SERVICES],
    ]


def test_the_layout_survives_a_round_trip_through_its_file(tmp_path: Path) -> None:
    layout = ClusterLayout.build(ports=any_free_ports, instances={"spell_checker": 3})
    layout.write(tmp_path / "cluster.json")
    assert ClusterLayout.read(tmp_path / "cluster.json") == layout
    assert len(layout.of("spell_checker")) == 3
    assert layout.grpc_target("spell_checker").startswith("ipv4:127.0.0.1:")


def test_a_node_routes_to_its_peers_and_syncs_every_write(tmp_path: Path) -> None:
    layout = ClusterLayout.build()
    node = NatsNode(layout.nodes[1], layout.nodes, tmp_path, tmp_path)
    node.write_config()
    text = node.config_path.read_text()
    assert 'server_name: "n2"' in text
    assert "sync_interval: always" in text
    assert 'name: "huleedu"' in text and "listen: 127.0.0.1:6223" in text
    assert '"nats-route://127.0.0.1:6222"' in text and '"nats-route://127.0.0.1:6224"' in text
    assert '127.0.0.1:6223"' not in text  # no route to itself
    checked = subprocess.run(
        [nats_server_binary(), "-t", "-c", str(node.config_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


def test_a_single_server_configuration_has_no_cluster_block(tmp_path: Path) -> None:
    text = server_config(port=4222, monitor_port=8222, store_dir=tmp_path)
    assert "cluster" not in text and "sync_interval: always" in text
