"""The NATS permission table (devstack/nats_users.py) against the code it describes: each
service's user binds exactly the durable its bootstrap declares and may copy to the DLQ exactly
what that durable consumes; passwords survive nats-server's reading of its environment."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest

from devstack.nats_users import OPERATOR, USER_BY_NAME, USERS, NatsLogins, new_password
from services.batch_orchestrator.entrypoints import event_handlers as bos
from services.essay_lifecycle import bootstrap as els
from services.file_service import bootstrap as file_service
from services.mesh import subjects
from services.mesh.settings import NatsSettings, inbox_prefix
from services.mesh.streams import ConsumerSpec
from services.spell_checker import bootstrap as spell_checker

NATS = NatsSettings(("nats://127.0.0.1:4222",), 5, 30.0, 1, 3600.0, 120.0)
SERVICE_SETTINGS: Any = SimpleNamespace(nats=NATS)
SPECS: dict[str, ConsumerSpec] = {
    "batch_orchestrator": bos.consumer_spec(NATS),
    "essay_lifecycle": els.consumer_spec(SERVICE_SETTINGS),
    "file_service": file_service.consumer_spec(SERVICE_SETTINGS),
    "spell_checker": spell_checker.consumer_spec(SERVICE_SETTINGS),
}


@pytest.mark.parametrize("service", sorted(SPECS))
def test_a_service_binds_its_own_durable_and_dead_letters_what_it_consumes(service: str) -> None:
    spec = SPECS[service]
    user = USER_BY_NAME[service]
    assert f"$JS.API.CONSUMER.MSG.NEXT.HULEEDU_EVENTS.{spec.durable}" in user.publish
    assert f"$JS.ACK.HULEEDU_EVENTS.{spec.durable}.>" in user.publish
    fetches = [s for s in user.publish if s.startswith("$JS.API.CONSUMER.MSG.NEXT.")]
    assert len(fetches) == 1  # no other service's durable
    dead_letters = {s for s in user.publish if s.startswith(subjects.DLQ_PREFIX)}
    probes = {f"{subjects.DLQ_PREFIX}huleedu._probe"}
    assert dead_letters - probes == {subjects.dlq_subject(s) for s in spec.filter_subjects}


def test_every_event_has_exactly_one_producer_and_only_the_operator_has_everything() -> None:
    for subject in subjects.MESH_SUBJECTS:
        producers = [
            user.name for user in USERS if user.name != OPERATOR and subject in user.publish
        ]
        assert len(producers) == 1, (subject, producers)
    assert [user.name for user in USERS if ">" in user.publish] == [OPERATOR]
    content = USER_BY_NAME["content_service"].publish  # nothing on the event streams
    event_streams = ("HULEEDU_EVENTS", "HULEEDU_DLQ")
    assert not any(s.endswith(event_streams) or s.startswith(("huleedu.", "dlq.")) for s in content)


def test_each_service_hears_only_its_own_inboxes() -> None:
    for user in USERS:
        if user.name != OPERATOR:
            assert user.subscribe[0] == f"_INBOX_{user.name}.>"
            assert not any(s.startswith("_INBOX.") for s in user.subscribe)


def test_the_inbox_prefix_follows_the_login() -> None:
    assert inbox_prefix(None) == "_INBOX"
    assert inbox_prefix("spell_checker") == "_INBOX_spell_checker"
    assert inbox_prefix("a.b%2Ac") == "_INBOX_a_b_c"  # never a subject token of its own
    url = NatsLogins.generate().url("essay_lifecycle", "nats://127.0.0.1:4222")
    assert NatsSettings((url,), 5, 30.0, 1, 3600.0, 120.0).inbox_prefix == "_INBOX_essay_lifecycle"


def test_passwords_start_with_a_letter_and_need_no_escaping() -> None:
    for _ in range(200):
        assert re.fullmatch(r"[a-z][a-z0-9]{20,}", new_password())


def test_only_the_services_that_keep_an_audit_log_write_to_it() -> None:
    writers = {
        user.name
        for user in USERS
        if user.name != OPERATOR and any(s.startswith(subjects.AUDIT_PREFIX) for s in user.publish)
    }
    assert writers == {"content_service", "file_service"}
    assert f"{subjects.AUDIT_PREFIX}*.content.*" in USER_BY_NAME["content_service"].publish
    assert f"{subjects.AUDIT_PREFIX}*.batch.*" in USER_BY_NAME["file_service"].publish


def matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, `>` the rest."""
    wanted, tokens = pattern.split("."), subject.split(".")
    for index, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > index
        if index >= len(tokens) or token not in ("*", tokens[index]):
            return False
    return len(wanted) == len(tokens)


@pytest.mark.parametrize("stream", ["HULEEDU_EVENTS", "HULEEDU_DLQ", "HULEEDU_AUDIT"])
def test_no_service_may_delete_or_purge_the_shared_streams(stream: str) -> None:
    forbidden = [
        f"$JS.API.STREAM.{verb}.{stream}" for verb in ("DELETE", "PURGE", "MSG.DELETE")
    ] + [f"$JS.API.CONSUMER.DELETE.{stream}.bos"]
    for user in USERS:
        if user.name != OPERATOR:
            allowed = [(p, s) for p in user.publish for s in forbidden if matches(p, s)]
            assert not allowed, (user.name, allowed)


def test_a_service_may_not_reach_anothers_bucket_or_events() -> None:
    spell = USER_BY_NAME["spell_checker"].publish
    for subject in (
        subjects.BATCH_ESSAYS_READY,
        "$JS.API.DIRECT.GET.KV_bos_batches.$KV.bos_batches.b1",
        "$JS.API.STREAM.MSG.GET.KV_bos_batches",
        "$KV.bos_batches.b1",
        "$O.content.M.x",
    ):
        assert not any(matches(p, subject) for p in spell), subject
    bos = USER_BY_NAME["batch_orchestrator"].publish
    assert any(matches(p, "$JS.API.DIRECT.GET.KV_bos_batches.$KV.bos_batches.b1") for p in bos)
    assert any(matches(p, "$JS.API.STREAM.MSG.GET.KV_bos_batches") for p in bos)
    assert not any(matches(p, "$JS.API.STREAM.INFO.KV_els_batches") for p in bos)
