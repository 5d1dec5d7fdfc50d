"""The local cluster with authentication on (`python -m devstack.cluster --auth up`): every
instance gets the AUTH_* settings of the development keys, and an instance restarted by another
process (`python -m devstack.cluster restart spell_checker-1`) gets them too, from the run
directory; a cluster started without them restarts instances without them."""

from __future__ import annotations

import json
from pathlib import Path

from devstack.cluster_layout import ClusterLayout, any_free_ports
from devstack.cluster_stack import ClusterStack, auth_path, layout_path, logins_path
from devstack.nats_users import NatsLogins
from devstack.stack import RunDir
from services.mesh.auth import create_dev_keys


def recorded_cluster(tmp_path: Path, auth_env: dict[str, str] | None) -> RunDir:
    """A run directory as `up` leaves it: the layout, the NATS logins, and auth.json when the
    cluster verifies tokens."""
    run_dir = RunDir(tmp_path / "cluster")
    run_dir.nats.mkdir(parents=True)
    ClusterLayout.build(ports=any_free_ports).write(layout_path(run_dir))
    logins_path(run_dir).write_text(NatsLogins.generate().to_json())
    if auth_env is not None:
        auth_path(run_dir).write_text(json.dumps(auth_env))
    return run_dir


def test_every_instance_of_a_cluster_with_auth_verifies_tokens(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path / "cluster")
    auth_env = create_dev_keys(run_dir.auth)
    stack = ClusterStack(run_dir, ClusterLayout.build(ports=any_free_ports), auth_env=auth_env)

    for instance in stack.layout.instances:
        env = stack.instance_env(instance)
        assert env["AUTH_JWKS_FILE"] == str(run_dir.auth / "jwks.json"), instance.name
        assert env["AUTH_SERVICE_KEY"] == str(run_dir.auth / "services.pem"), instance.name


def test_an_instance_restarted_by_another_process_keeps_authentication_on(
    tmp_path: Path,
) -> None:
    auth_env = create_dev_keys(tmp_path / "keys")
    run_dir = recorded_cluster(tmp_path, auth_env)

    attached = ClusterStack.attach(run_dir)

    instance = attached.layout.instance("spell_checker-1")
    assert attached.instance_env(instance)["AUTH_JWKS_FILE"] == auth_env["AUTH_JWKS_FILE"]


def test_a_cluster_without_auth_restarts_instances_without_it(tmp_path: Path) -> None:
    run_dir = recorded_cluster(tmp_path, None)

    attached = ClusterStack.attach(run_dir)

    assert attached.auth_env == {}
