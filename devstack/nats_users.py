"""Who may do what on NATS: one user per service, allowed only the subjects it publishes, the
durable consumer it binds and its own KV buckets and Object Store, plus an operator user
(`huleedu`: the CLI, nats-box, tests and benchmarks) allowed everything.

This table is the one source of the permissions: `authorization_config()` renders it as the
nats-server `authorization { users = [...] }` block that the local stack, the local cluster and
docker compose (docker/nats-users.conf, rendered with `python -m devstack.nats_users`) run with.
Passwords are never in it: each user's password is an environment variable of nats-server
(`password_variable`), set by whoever starts the server.

Streams: each service may create and update the streams it writes to (HULEEDU_EVENTS and
HULEEDU_DLQ, HULEEDU_AUDIT for the two that keep audit records: services start in any order and
each provisions what it uses, with the one configuration declared in services/mesh/streams.py)
and do anything to its own buckets' streams (`KV_<bucket>`, `OBJ_<bucket>`), but delete or purge
none of the shared streams, nor touch another service's bucket (docs/security.md).
"""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from services.batch_orchestrator.adapters.kv_batches import BUCKET as BOS_BATCHES
from services.batch_orchestrator.entrypoints.event_handlers import DURABLE as BOS_DURABLE
from services.batch_orchestrator.entrypoints.event_handlers import FILTER_SUBJECTS as BOS_CONSUMES
from services.content_service.adapters.object_store import CONTENT_BUCKET
from services.essay_lifecycle.adapters.kv_store import BATCHES_BUCKET as ELS_BATCHES
from services.essay_lifecycle.adapters.kv_store import ESSAYS_BUCKET as ELS_ESSAYS
from services.essay_lifecycle.bootstrap import CONSUMED_SUBJECTS as ELS_CONSUMES
from services.essay_lifecycle.bootstrap import CONSUMER_DURABLE as ELS_DURABLE
from services.file_service.adapters.batch_registry import BATCHES_BUCKET as FILE_BATCHES
from services.file_service.adapters.file_admissions import BATCH_FILES_BUCKET as FILE_ADMISSIONS
from services.file_service.adapters.upload_ledger import UPLOADS_BUCKET as FILE_UPLOADS
from services.file_service.bootstrap import CONSUMED_SUBJECTS as FILE_CONSUMES
from services.file_service.bootstrap import DURABLE as FILE_DURABLE
from services.mesh import subjects
from services.mesh.dead_letters import MAX_DELIVERIES_ADVISORY
from services.mesh.settings import inbox_prefix
from services.mesh.streams import AUDIT_STREAM, DLQ_STREAM, EVENTS_STREAM
from services.spell_checker.bootstrap import CONSUMED_SUBJECTS as SPELL_CONSUMES
from services.spell_checker.bootstrap import DURABLE as SPELL_DURABLE

OPERATOR = "huleedu"
RENDERED_PATH = Path(__file__).resolve().parents[1] / "docker" / "nats-users.conf"
# Subjects a service writes to check that a stream takes writes (services.mesh.streams'
# write probe, refused unstored, and services.mesh.storage_health's probe).
_PROBES = ("huleedu._probe", "huleedu.storage_probe", f"{subjects.DLQ_PREFIX}huleedu._probe")
_AUDIT_PROBES = ("_probe", "storage_probe")
# The audit log's subjects by tenant (services.mesh.audit): `<prefix><tenant>.content.<action>`
# (the Content Service's) and `<prefix><tenant>.batch.<batch id>` (the File Service's).
AUDIT_CONTENT = f"{subjects.AUDIT_PREFIX}*.content.*"
AUDIT_BATCH = f"{subjects.AUDIT_PREFIX}*.batch.*"


@dataclass(frozen=True)
class Consumes:
    """The durable pull consumer of the event stream a service binds, and what it filters."""

    durable: str
    subjects: Sequence[str]


@dataclass(frozen=True)
class NatsUser:
    """One NATS user: the subjects it may publish to and subscribe to."""

    name: str
    description: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]

    @property
    def password_variable(self) -> str:
        """The environment variable nats-server reads this user's password from."""
        if self.name == OPERATOR:
            return "NATS_PASSWORD"
        return f"NATS_PASSWORD_{self.name.upper()}"


def service_user(
    name: str,
    description: str,
    *,
    produces: Sequence[str] = (),
    consumes: Consumes | None = None,
    kv_buckets: Sequence[str] = (),
    object_stores: Sequence[str] = (),
    audits: Sequence[str] = (),
) -> NatsUser:
    """A service's user: its events, its durable, its buckets, the audit subjects it records on
    (HULEEDU_AUDIT: append only, its stream denies delete and purge); replies on its inboxes."""
    publish: list[str] = ["$JS.API.INFO"]
    # The replies to its requests, JetStream's included: its own inboxes only.
    subscribe: list[str] = [f"{inbox_prefix(name)}.>"]
    if produces or consumes is not None:
        for stream in (EVENTS_STREAM, DLQ_STREAM):
            publish += [f"$JS.API.STREAM.{verb}.{stream}" for verb in ("INFO", "CREATE", "UPDATE")]
        publish += [*produces, *_PROBES]
    if consumes is not None:
        durable = f"{EVENTS_STREAM}.{consumes.durable}"
        publish += [
            f"$JS.API.CONSUMER.CREATE.{durable}",
            f"$JS.API.CONSUMER.CREATE.{durable}.>",
            f"$JS.API.CONSUMER.DURABLE.CREATE.{durable}",
            f"$JS.API.CONSUMER.INFO.{durable}",
            f"$JS.API.CONSUMER.MSG.NEXT.{durable}",
            f"$JS.ACK.{durable}.>",
            # A message named by a max-deliveries advisory is read back by sequence.
            f"$JS.API.STREAM.MSG.GET.{EVENTS_STREAM}",
            *(subjects.dlq_subject(subject) for subject in consumes.subjects),
        ]
        subscribe.append(
            MAX_DELIVERIES_ADVISORY.format(stream=EVENTS_STREAM, durable=consumes.durable)
        )
    if audits:
        publish += [
            f"$JS.API.STREAM.{verb}.{AUDIT_STREAM}" for verb in ("INFO", "CREATE", "UPDATE")
        ]
        publish += [*audits, *(f"{subjects.AUDIT_PREFIX}{probe}" for probe in _AUDIT_PROBES)]
    buckets = [(f"KV_{bucket}", f"$KV.{bucket}.>") for bucket in kv_buckets]
    buckets += [(f"OBJ_{bucket}", f"$O.{bucket}.>") for bucket in object_stores]
    for stream, messages in buckets:
        # Every JetStream API call on the bucket's stream and its consumers (create, update,
        # info, direct get, purge, KV watches), its messages and its watches' flow control.
        publish += [f"$JS.API.*.*.{stream}", f"$JS.API.*.*.*.{stream}", f"$JS.API.*.*.{stream}.>"]
        publish.append(messages)
        publish.append(f"$JS.FC.{stream}.>")
    return NatsUser(name, description, tuple(publish), tuple(subscribe))


USERS: tuple[NatsUser, ...] = (
    NatsUser(OPERATOR, "operator: the CLI, nats-box, tests and benchmarks", (">",), (">",)),
    service_user(
        "content_service",
        "Content Service: the content Object Store and its records in the audit log",
        object_stores=[CONTENT_BUCKET],
        audits=[AUDIT_CONTENT],
    ),
    service_user(
        "file_service",
        "File Service: learns batches and erasures, announces content and validation failures",
        produces=[subjects.ESSAY_CONTENT_PROVISIONED, subjects.ESSAY_VALIDATION_FAILED],
        consumes=Consumes(FILE_DURABLE, FILE_CONSUMES),
        kv_buckets=[FILE_BATCHES, FILE_UPLOADS, FILE_ADMISSIONS],
        audits=[AUDIT_BATCH],
    ),
    service_user(
        "batch_orchestrator",
        "Batch Orchestrator: registrations, spellcheck commands and erasure orders",
        produces=[
            subjects.BATCH_ESSAYS_REGISTERED,
            subjects.BATCH_SPELLCHECK_INITIATE,
            subjects.BATCH_ERASURE_REQUESTED,
        ],
        consumes=Consumes(BOS_DURABLE, BOS_CONSUMES),
        kv_buckets=[BOS_BATCHES],
    ),
    service_user(
        "essay_lifecycle",
        "Essay Lifecycle: readiness, deadlines, spellcheck requests, outcomes, erased uploads",
        produces=[
            subjects.BATCH_ESSAYS_READY,
            subjects.BATCH_READINESS_TIMED_OUT,
            subjects.EXCESS_CONTENT_PROVISIONED,
            subjects.SPELLCHECK_GROUP_REQUESTED,
            # What ELS sent before groups: instances of the previous version, still running in
            # a rolling upgrade, log in as this user too.
            subjects.ESSAY_SPELLCHECK_REQUESTED,
            subjects.BATCH_PHASE_OUTCOME,
            subjects.BATCH_READINESS_DEADLINE,
            subjects.ESSAY_UPLOADS_ERASED,
            f"{subjects.BATCH_READINESS_DEADLINE_SCHEDULE}.*",
        ],
        consumes=Consumes(ELS_DURABLE, ELS_CONSUMES),
        kv_buckets=[ELS_BATCHES, ELS_ESSAYS],
    ),
    service_user(
        "spell_checker",
        "Spell Checker: spellcheck requests in, completions out",
        produces=[subjects.ESSAY_SPELLCHECK_COMPLETED, subjects.SPELLCHECK_GROUP_COMPLETED],
        consumes=Consumes(SPELL_DURABLE, SPELL_CONSUMES),
    ),
)
USER_BY_NAME: Mapping[str, NatsUser] = {user.name: user for user in USERS}


def _allow(verb: str, values: Sequence[str]) -> list[str]:
    return [
        f"        {verb}: {{ allow: [",
        *(f'          "{value}"' for value in values),
        "        ] }",
    ]


def authorization_config() -> str:
    """The nats-server `authorization` block of every user; passwords are read from the
    server's environment (`$NATS_PASSWORD...`), never written here."""
    lines = [
        "# Written by `python -m devstack.nats_users` from devstack/nats_users.py: edit that.",
        "# One NATS user per service, allowed only its own subjects, durable and buckets",
        "# (docs/security.md); each password comes from nats-server's environment.",
        "authorization {",
        "  users = [",
    ]
    for user in USERS:
        lines += [
            f"    # {user.description}",
            "    {",
            f'      user: "{user.name}"',
            f"      password: ${user.password_variable}",
        ]
        if user.publish != (">",) or user.subscribe != (">",):
            lines += [
                "      permissions: {",
                *_allow("publish", user.publish),
                *_allow("subscribe", user.subscribe),
                "      }",
            ]
        lines.append("    }")
    lines += ["  ]", "}"]
    return "\n".join(lines) + "\n"


def new_password() -> str:
    """A random password that nats-server reads back from its environment as written: it parses
    a variable's value as a configuration value, so one that starts with a digit can come out as
    a number or a date. Letters and digits, starting with a letter."""
    return f"p{secrets.token_hex(16)}"


@dataclass(frozen=True)
class NatsLogins:
    """A password for every user of the table."""

    passwords: Mapping[str, str]

    @classmethod
    def generate(cls, *, operator_password: str = "") -> NatsLogins:
        """Fresh random passwords (the local stack's, one set per start); the operator's is
        `operator_password` when given."""
        passwords = {user.name: new_password() for user in USERS}
        if operator_password:
            passwords[OPERATOR] = operator_password
        return cls(passwords)

    def to_json(self) -> str:
        """The passwords as JSON (a cluster's run directory keeps them for restarts)."""
        return json.dumps(dict(self.passwords), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> NatsLogins:
        """Passwords saved by `to_json`."""
        return cls(json.loads(text))

    def server_env(self) -> dict[str, str]:
        """The variables nats-server reads the passwords from."""
        return {user.password_variable: self.passwords[user.name] for user in USERS}

    def url(self, user: str, servers: str) -> str:
        """`servers` (one URL or several, comma-separated) with `user`'s login in each."""
        login = f"{quote(user, safe='')}:{quote(self.passwords[user], safe='')}@"
        return ",".join(_with_login(server, login) for server in servers.split(","))


def _with_login(server: str, login: str) -> str:
    parts = urlsplit(server)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=login + netloc))


def main() -> int:
    """Write docker/nats-users.conf from the table."""
    RENDERED_PATH.write_text(authorization_config())
    print(f"wrote {RENDERED_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
