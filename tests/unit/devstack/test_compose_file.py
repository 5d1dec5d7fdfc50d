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

from services.devstack.nats_server import nats_server_binary
from services.devstack.stack import SERVICES
from services.mesh.metrics import DEFAULT_METRICS_ADDRS
from services.mesh.settings import DEFAULT_ADDRS
from tests.support import REPO_ROOT

NATS_URL = "nats://huleedu:${NATS_PASSWORD:-huleedu-local-dev}@nats:4222"

COMPOSE_NAMES = {spec.addr_variable: spec.name.replace("_", "-") for spec in SERVICES}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    return document


def port_of(variable: str) -> int:
    return int(DEFAULT_ADDRS[variable].rsplit(":", 1)[1])


def test_the_compose_file_has_nats_nats_box_and_the_five_services(
    compose: dict[str, Any],
) -> None:
    observability = {"prometheus", "grafana"}
    assert set(compose["services"]) == {"nats", "nats-box", *COMPOSE_NAMES.values(), *observability}
    assert "nats-data" in compose["volumes"]


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


def test_the_nats_configuration_is_valid_for_nats_server() -> None:
    result = subprocess.run(
        [nats_server_binary(), "-t", "-c", str(REPO_ROOT / "docker" / "nats.conf")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, "NATS_USER": "huleedu", "NATS_PASSWORD": "x"},
    )
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stdout + result.stderr


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
    assert env["NATS_URL"] == NATS_URL
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
    conditions = {dep["condition"] for dep in service["depends_on"].values()}
    assert "nats" in service["depends_on"] and conditions == {"service_healthy"}


def test_the_dockerfile_copies_only_what_exists_and_installs_the_package() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    sources = []
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            sources += line.split()[1:-1]
    assert {"pyproject.toml", "gen", "services", "docker/healthcheck.py"} <= set(sources)
    for source in sources:
        assert (REPO_ROOT / source).exists(), f"Dockerfile copies missing {source}"
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert not set(sources) & set(ignored)
    assert "RUN pip install ." in dockerfile
    assert re.search(r'^CMD \["python", "-m", "services\.\w+"\]$', dockerfile, re.MULTILINE)


def test_the_makefile_has_the_run_and_compose_targets() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    for target in ("run", "up", "down", "logs", "compose-up", "compose-e2e"):
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), target
    assert Path(REPO_ROOT / "examples" / "essays").is_dir()
