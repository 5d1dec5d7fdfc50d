"""docker-compose.yml, the Dockerfile and docker/ checked without a Docker engine: the file
parses, references only things that exist, and wires the services as ARCHITECTURE.md says."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.nats_server import nats_server_binary
from devstack.nats_users import RENDERED_PATH, USERS, NatsLogins, authorization_config
from devstack.stack import SERVICES
from services.mesh.metrics import DEFAULT_METRICS_ADDRS
from services.mesh.settings import DEFAULT_ADDRS
from tests.e2e.test_compose_auth import DOCS_TOKENS
from tests.support import REPO_ROOT

NATS_URL = "nats://huleedu:${NATS_PASSWORD:-huleedu-local-dev}@nats:4222"


def login(user: str) -> str:
    """A service's NATS login in the compose file: its user, its password variable."""
    variable = f"NATS_PASSWORD_{user.upper()}"
    return f"{user}:${{{variable}:-{user.replace('_', '-')}-local-dev}}"


COMPOSE_NAMES = {spec.addr_variable: spec.name.replace("_", "-") for spec in SERVICES}
CLUSTER_NODES = ("nats-1", "nats-2", "nats-3")
AUTH_KEYS_READ_ONLY = "${HULEEDU_AUTH_KEYS:-auth-keys}:/auth:ro"
MAX_FILE_STORE_DEFAULT = "4GB"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    return document


def port_of(variable: str) -> int:
    return int(DEFAULT_ADDRS[variable].rsplit(":", 1)[1])


def services_of(compose: dict[str, Any], profile: str | None) -> set[str]:
    """What `docker compose [--profile P] up` starts beyond the services without a profile."""
    return {
        name
        for name, service in compose["services"].items()
        if (profile in service["profiles"] if "profiles" in service else profile is None)
    }


def test_the_compose_file_has_nats_nats_box_and_the_five_services(
    compose: dict[str, Any],
) -> None:
    assert services_of(compose, None) == {
        "nats",
        "nats-box",
        "auth-init",
        *COMPOSE_NAMES.values(),
        "prometheus",
    }
    assert services_of(compose, "grafana") == {"grafana"}  # no image for it where none is pulled
    assert services_of(compose, "cli") == {"cli"}  # `docker compose run` only
    assert "nats-data" in compose["volumes"]


def test_the_cluster_profile_has_three_nats_nodes_and_two_instances_of_each_service(
    compose: dict[str, Any],
) -> None:
    instances = {f"{name}-{suffix}" for name in COMPOSE_NAMES.values() for suffix in "ab"}
    assert services_of(compose, "cluster") == {*CLUSTER_NODES, *instances}
    profiles = [services_of(compose, profile) for profile in (None, "cluster", "grafana", "cli")]
    assert set(compose["services"]) == set().union(*profiles)
    published = [
        port for service in compose["services"].values() for port in service.get("ports", [])
    ]
    assert len(published) == len(set(published)), "two services publish one host port"


def test_prometheus_scrapes_every_service_and_mounts_only_what_exists(
    compose: dict[str, Any],
) -> None:
    for name in ("prometheus", "grafana"):
        for volume in compose["services"][name]["volumes"]:
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (REPO_ROOT / source).exists(), source
    scrape = yaml.safe_load((REPO_ROOT / "docker" / "prometheus.yml").read_text())
    targets = " ".join(
        target
        for job in scrape["scrape_configs"]
        for group in job["static_configs"]
        for target in group["targets"]
    )
    for compose_name in COMPOSE_NAMES.values():
        assert compose_name in targets, compose_name


def test_nats_runs_jetstream_with_sync_always_on_a_named_volume(compose: dict[str, Any]) -> None:
    nats = compose["services"]["nats"]
    mounts = dict(volume.split(":", 1) for volume in nats["volumes"])
    assert mounts["./docker/nats.conf"] == "/etc/nats/nats.conf:ro"
    text = (REPO_ROOT / "docker" / "nats.conf").read_text()
    assert re.search(r"^\s*sync_interval:\s*always\s*$", text, re.MULTILINE)
    assert 'store_dir: "/data"' in text
    assert mounts["nats-data"] == "/data"
    assert nats["command"] == ["--config", "/etc/nats/nats.conf"]
    assert {"4222:4222", "8222:8222"} <= set(nats["ports"])
    assert "healthz" in " ".join(nats["healthcheck"]["test"])
    box = compose["services"]["nats-box"]
    assert box["environment"]["NATS_URL"] == NATS_URL


@pytest.mark.parametrize("config", ["nats.conf", "nats-cluster.conf"])
def test_the_nats_configurations_are_valid_for_nats_server(config: str) -> None:
    result = subprocess.run(
        [nats_server_binary(), "-t", "-c", str(REPO_ROOT / "docker" / config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={
            **os.environ,
            "NATS_SERVER_NAME": "nats-1",
            **NatsLogins.generate().server_env(),
            "NATS_MAX_FILE_STORE": MAX_FILE_STORE_DEFAULT,
        },
    )
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stdout + result.stderr


@pytest.mark.parametrize("node", ["nats", *CLUSTER_NODES])
def test_jetstream_stores_at_most_nats_max_file_store_with_a_default(
    compose: dict[str, Any], node: str
) -> None:
    service = compose["services"][node]
    config = dict(volume.split(":", 1) for volume in service["volumes"])
    conf = next(source for source, target in config.items() if target.startswith("/etc/nats/"))
    text = (REPO_ROOT / conf).read_text()
    assert re.search(r"^\s*max_file_store:\s*\$NATS_MAX_FILE_STORE\s*$", text, re.MULTILINE)
    expected = f"${{NATS_MAX_FILE_STORE:-{MAX_FILE_STORE_DEFAULT}}}"
    assert service["environment"]["NATS_MAX_FILE_STORE"] == expected


@pytest.mark.parametrize("node", CLUSTER_NODES)
def test_each_cluster_node_runs_jetstream_on_its_own_volume_with_routes_to_all(
    compose: dict[str, Any], node: str
) -> None:
    service = compose["services"][node]
    mounts = dict(volume.split(":", 1) for volume in service["volumes"])
    assert mounts["./docker/nats-cluster.conf"] == "/etc/nats/nats.conf:ro"
    assert mounts[f"{node}-data"] == "/data" and f"{node}-data" in compose["volumes"]
    assert service["command"] == ["--config", "/etc/nats/nats.conf"]
    assert service["environment"]["NATS_SERVER_NAME"] == node
    assert service["environment"] == compose["services"]["nats"]["environment"] | {
        "NATS_SERVER_NAME": node
    }
    assert mounts["./docker/nats-users.conf"] == "/etc/nats/nats-users.conf:ro"
    number = int(node.rsplit("-", 1)[1])
    assert service["ports"] == [f"{14221 + number}:4222", f"{18221 + number}:8222"]
    assert "healthz" in " ".join(service["healthcheck"]["test"])
    text = (REPO_ROOT / "docker" / "nats-cluster.conf").read_text()
    assert re.search(r"^\s*sync_interval:\s*always\s*$", text, re.MULTILINE)
    assert all(f"nats-route://{peer}:6222" in text for peer in CLUSTER_NODES)


@pytest.mark.parametrize("spec", SERVICES, ids=[spec.name for spec in SERVICES])
@pytest.mark.parametrize("suffix", ["a", "b"])
def test_each_cluster_instance_reaches_every_node_and_its_peers_by_alias(
    compose: dict[str, Any], spec: Any, suffix: str
) -> None:
    name = COMPOSE_NAMES[spec.addr_variable]
    service = compose["services"][f"{name}-{suffix}"]
    single = compose["services"][name]
    assert service["command"] == single["command"] and service["image"] == single["image"]
    assert service["networks"]["default"]["aliases"] == [f"{name}-cluster"]
    port = port_of(spec.addr_variable)
    host_port = port + (1000 if suffix == "a" else 1010)
    assert service["ports"] == [f"{host_port}:{port}"]
    assert service["healthcheck"]["test"] == single["healthcheck"]["test"]
    env = service["environment"]
    assert env["NATS_URL"].split(",") == [
        f"nats://{login(spec.name)}@{node}:4222" for node in CLUSTER_NODES
    ]
    assert (env["NATS_REPLICAS"], env["NATS_MAX_DELIVER"]) == ("3", "30")
    for variable, other in COMPOSE_NAMES.items():
        expected = (
            f"0.0.0.0:{port}"
            if variable == spec.addr_variable
            else f"{other}-cluster:{port_of(variable)}"
        )
        assert env[variable] == expected
    for variable, addr in DEFAULT_METRICS_ADDRS.items():
        assert env[variable] == "0.0.0.0:" + addr.rsplit(":", 1)[1]
    depends = dict(service["depends_on"])
    assert depends.pop("auth-init") == {"condition": "service_completed_successfully"}
    assert {dep["condition"] for dep in depends.values()} == {"service_healthy"}
    assert set(CLUSTER_NODES) <= set(depends)
    first_wave = suffix == "a" and spec.name in {"content_service", "batch_orchestrator"}
    expected_waits = set() if first_wave else {"content-service-a", "batch-orchestrator-a"}
    assert set(depends) - set(CLUSTER_NODES) == expected_waits


@pytest.mark.parametrize("spec", SERVICES, ids=[spec.name for spec in SERVICES])
def test_each_service_runs_from_the_one_image_with_health_and_ordering(
    compose: dict[str, Any], spec: Any
) -> None:
    service = compose["services"][COMPOSE_NAMES[spec.addr_variable]]
    assert service["build"] == "." and service["image"] == "huleedu-mesh:dev"
    assert service["command"] == ["python", "-m", spec.module]
    assert (REPO_ROOT / "services" / spec.name / "__main__.py").exists()
    port = port_of(spec.addr_variable)
    assert service["ports"] == [f"{port}:{port}"]
    env = service["environment"]
    assert env["NATS_URL"] == f"nats://{login(spec.name)}@nats:4222"
    for variable, addr in DEFAULT_METRICS_ADDRS.items():
        assert env[variable] == "0.0.0.0:" + addr.rsplit(":", 1)[1]
    for variable, name in COMPOSE_NAMES.items():
        expected = (
            f"0.0.0.0:{port}" if variable == spec.addr_variable else (f"{name}:{port_of(variable)}")
        )
        assert env[variable] == expected
    assert service["healthcheck"]["test"] == [
        "CMD",
        "python",
        "docker/healthcheck.py",
        f"127.0.0.1:{port}",
    ]
    depends = dict(service["depends_on"])
    assert depends.pop("auth-init") == {"condition": "service_completed_successfully"}
    conditions = {dep["condition"] for dep in depends.values()}
    assert "nats" in depends and conditions == {"service_healthy"}


def test_the_dockerfile_copies_only_what_exists_and_installs_from_the_lock() -> None:
    """Two stages: the locked dependencies (hash-checked) and the package into a virtualenv, then
    a clean base with that virtualenv; nothing of the tooling, tests or benchmarks is copied."""
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    sources = []
    for line in dockerfile.splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            sources += line.split()[1:-1]
    assert {"requirements.lock", "pyproject.toml", "gen", "services"} <= set(sources)
    assert "docker/healthcheck.py" in sources
    for source in sources:
        assert (REPO_ROOT / source).exists(), f"Dockerfile copies missing {source}"
    assert not {"devstack", "bench", "tests", "."} & set(sources)
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert not set(sources) & set(ignored)
    assert "RUN pip install --require-hashes -r requirements.lock" in dockerfile
    assert "RUN pip install --no-deps ." in dockerfile
    assert len(re.findall(r"^FROM ", dockerfile, re.MULTILINE)) == 2
    assert "COPY --from=build /opt/venv /opt/venv" in dockerfile
    assert re.search(r'^CMD \["python", "-m", "services\.\w+"\]$', dockerfile, re.MULTILINE)


def test_the_makefile_has_the_run_and_compose_targets() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    for target in ("run", "up", "down", "logs", "compose-up", "compose-e2e"):
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), target
    assert Path(REPO_ROOT / "examples" / "essays").is_dir()


def test_the_makefile_starts_and_tests_exactly_the_cluster_profile(compose: dict[str, Any]) -> None:
    dry_run = subprocess.run(
        ["make", "-n", "--no-print-directory", "compose-cluster-up", "compose-cluster-e2e"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    up = next(line for line in dry_run.splitlines() if " up --build" in line)
    named = up.split("--wait", 1)[1].split()
    assert len(named) == len(set(named)) and set(named) == services_of(compose, "cluster")
    for node, host_port in zip(CLUSTER_NODES, (14222, 14223, 14224), strict=True):
        assert compose["services"][node]["ports"][0] == f"{host_port}:4222"
        assert f"@127.0.0.1:{host_port}" in dry_run
    for spec in SERVICES:
        port = port_of(spec.addr_variable)
        instance_a = compose["services"][f"{COMPOSE_NAMES[spec.addr_variable]}-a"]
        assert instance_a["ports"] == [f"{port + 1000}:{port}"]
        assert f"{spec.addr_variable}=127.0.0.1:{port + 1000}" in dry_run


def test_nats_runs_with_the_users_of_the_permission_table(compose: dict[str, Any]) -> None:
    # docker/nats-users.conf is rendered from devstack/nats_users.py (python -m
    # devstack.nats_users) and every password it names has a default in the compose file.
    assert RENDERED_PATH.read_text() == authorization_config()
    nats = compose["services"]["nats"]
    mounts = dict(volume.split(":", 1) for volume in nats["volumes"])
    assert mounts["./docker/nats-users.conf"] == "/etc/nats/nats-users.conf:ro"
    assert 'include "nats-users.conf"' in (REPO_ROOT / "docker" / "nats.conf").read_text()
    assert 'include "nats-users.conf"' in (REPO_ROOT / "docker" / "nats-cluster.conf").read_text()
    for user in USERS:
        default = login(user.name).split(":", 1)[1] if user.name != "huleedu" else None
        expected = default or "${NATS_PASSWORD:-huleedu-local-dev}"
        assert nats["environment"][user.password_variable] == expected


def mesh_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every container that runs a service of the mesh: the five and the cluster's instances."""
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("command", [])[:2] == ["python", "-m"]
        and service["command"][2] in {spec.module for spec in SERVICES}
    }


def test_every_service_verifies_tokens_with_the_keys_auth_init_made(
    compose: dict[str, Any],
) -> None:
    """Authentication on in compose: each service of both profiles mounts the keys read-only,
    names them in AUTH_*, and starts only once `auth-init` has created them."""
    services = mesh_services(compose)
    assert len(services) == len(SERVICES) * 3  # the five, instances a and b
    for name, service in services.items():
        assert AUTH_KEYS_READ_ONLY in service["volumes"], name
        env = service["environment"]
        assert env["AUTH_JWKS_FILE"] == "${AUTH_JWKS_FILE:-/auth/jwks.json}", name
        assert env["AUTH_SERVICE_KEY"] == "${AUTH_SERVICE_KEY:-/auth/services.pem}", name
        assert env["AUTH_SERVICE_KEY_IDS"] == "${AUTH_SERVICE_KEY_IDS:-huleedu-services}", name
        assert env["AUTH_AUDIENCE"] == "${AUTH_AUDIENCE:-huleedu}", name
        assert service["depends_on"]["auth-init"] == {
            "condition": "service_completed_successfully"
        }, name
    assert "auth-keys" in compose["volumes"]


def test_auth_init_creates_the_keys_once_and_the_cli_signs_with_them(
    compose: dict[str, Any],
) -> None:
    init = compose["services"]["auth-init"]
    assert init["image"] == "huleedu-mesh:dev" and "restart" not in init
    assert init["command"] == ["python", "-m", "services.mesh.dev_keys", "/auth"]
    assert (REPO_ROOT / "services" / "mesh" / "dev_keys.py").exists()
    assert init["volumes"] == ["${HULEEDU_AUTH_KEYS:-auth-keys}:/auth"]  # writable: it writes
    assert init["environment"]["AUTH_JWKS_FILE"] == "${AUTH_JWKS_FILE:-/auth/jwks.json}"
    cli = compose["services"]["cli"]
    assert cli["image"] == "huleedu-mesh:dev" and cli["volumes"] == [AUTH_KEYS_READ_ONLY]
    assert cli["environment"]["HULEEDU_ISSUER_KEY"] == "/auth/issuer.pem"
    assert cli["depends_on"] == {"auth-init": {"condition": "service_completed_successfully"}}
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    # A new named volume takes the owner of the directory it is mounted on.
    assert "mkdir /auth && chown huleedu:huleedu /auth" in dockerfile


def test_the_docs_show_the_token_commands_as_the_compose_tests_run_them() -> None:
    assert f"```sh\n{DOCS_TOKENS}```" in (REPO_ROOT / "docs" / "compose.md").read_text()
