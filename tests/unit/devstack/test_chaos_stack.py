"""The chaos stack's wiring, without starting anything: each instance binds its own addresses and
dials a partner instance of every other service."""

from __future__ import annotations

from pathlib import Path

from devstack.chaos import ChaosStack, metrics_variable
from devstack.stack import SERVICES


def test_metrics_variable_names_follow_the_addr_variables() -> None:
    names = {spec.name: metrics_variable(spec) for spec in SERVICES}
    assert names["content_service"] == "CONTENT_SERVICE_METRICS_ADDR"
    assert names["batch_orchestrator"] == "BATCH_ORCHESTRATOR_METRICS_ADDR"


def test_instance_i_binds_its_own_addresses_and_dials_instance_i_of_the_others(
    tmp_path: Path,
) -> None:
    stack = ChaosStack(
        tmp_path, instances={"content_service": 2, "file_service": 2}, env={"LOG_LEVEL": "DEBUG"}
    )
    assert [i.name for i in stack.instances("file_service")] == ["file_service-0", "file_service-1"]
    assert len(stack.instances("spell_checker")) == 1
    addresses = [i.addr for i in stack.instances()] + [i.metrics_addr for i in stack.instances()]
    assert len(set(addresses)) == len(addresses)

    second_file = stack.instances("file_service")[1]
    env = stack.environment_of(second_file)
    assert env["FILE_SERVICE_ADDR"] == second_file.addr
    assert env["FILE_SERVICE_METRICS_ADDR"] == second_file.metrics_addr
    assert env["CONTENT_SERVICE_ADDR"] == stack.addrs("content_service")[1]
    assert env["SPELL_CHECKER_ADDR"] == stack.addrs("spell_checker")[0]
    assert env["NATS_URL"] == stack.nats.url
    assert env["LOG_LEVEL"] == "DEBUG"
    assert stack.client_env()["FILE_SERVICE_ADDR"] == stack.addrs("file_service")[0]
