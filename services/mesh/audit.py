"""The audit log: who read or wrote essay content, what and when, one protobuf AuditRecord per
call in the stream HULEEDU_AUDIT (streams.audit_config), never a byte of the content itself.

Subjects, one tenant per subtree so that a tenant's records can be read, and granted, apart:

    audit.huleedu.v1.<tenant>.batch.<batch id>   records that know their batch (File Service
                                                 uploads: the teacher who uploaded)
    audit.huleedu.v1.<tenant>.content.read       Content Service reads (storage ids only)
    audit.huleedu.v1.<tenant>.content.written    Content Service writes

`<tenant>` is the caller's tenant, or `@local` for the local caller (no authentication). A record
is published, and acknowledged by JetStream, before the call it records is answered: a reader
never holds bytes whose read is not on record, and a writer that got no answer (a crash before the
record) sends the write again, which is recorded then.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Iterable

from nats.js import JetStreamContext

from huleedu.audit.v1 import audit_pb2
from services.mesh.atomic_batch import Outgoing, TurnBatcher
from services.mesh.auth import Caller
from services.mesh.nats_internals import connection_of
from services.mesh.publisher import HEADER_MSG_ID, HEADER_TYPE
from services.mesh.storage_health import storage_health
from services.mesh.streams import AUDIT_STREAM
from services.mesh.subjects import AUDIT_PREFIX

READ = audit_pb2.AUDIT_ACTION_CONTENT_READ
WRITTEN = audit_pb2.AUDIT_ACTION_CONTENT_WRITTEN
OK = "OK"
LOCAL_TENANT = "@local"  # outside the tenant alphabet (services.mesh.auth.valid_tenant)
_ACTION_TOKENS = {READ: "read", WRITTEN: "written"}
_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_RECORD_TYPE = audit_pb2.AuditRecord.DESCRIPTOR.full_name


def subject_token(value: str) -> str:
    """`value` as one subject token: itself when it is letters, digits, `-` and `_` (tenants,
    UUIDs), else `sha256-` and its hash, so no id can reach into another subject."""
    if _SAFE_TOKEN.match(value):
        return value
    return "sha256-" + hashlib.sha256(value.encode()).hexdigest()


def tenant_root(tenant: str) -> str:
    """The subject prefix of a tenant's records, ending in a dot."""
    return f"{AUDIT_PREFIX}{subject_token(tenant) if tenant else LOCAL_TENANT}."


def batch_subject(tenant: str, batch_id: str) -> str:
    """Where the records that know their batch go."""
    return f"{tenant_root(tenant)}batch.{subject_token(batch_id)}"


def content_subject(tenant: str, action: audit_pb2.AuditAction.ValueType) -> str:
    """Where the Content Service's records of `action` go."""
    return f"{tenant_root(tenant)}content.{_ACTION_TOKENS[action]}"


def content_subjects(tenant: str) -> str:
    """Every Content Service record of a tenant (a filter subject)."""
    return f"{tenant_root(tenant)}content.>"


def audit_record(
    caller: Caller,
    action: audit_pb2.AuditAction.ValueType,
    *,
    service: str,
    method: str,
    storage_ids: Iterable[str],
    outcome: str = OK,
    batch_id: str = "",
    file_upload_ids: Iterable[str] = (),
) -> audit_pb2.AuditRecord:
    """A new record of one call by `caller`, stamped now, with a new id."""
    record = audit_pb2.AuditRecord(
        record_id=str(uuid.uuid4()),
        tenant=caller.tenant,
        subject=caller.subject,
        role=caller.role,
        action=action,
        service=service,
        method=method,
        batch_id=batch_id,
        storage_ids=list(dict.fromkeys(storage_ids)),
        file_upload_ids=list(dict.fromkeys(file_upload_ids)),
        outcome=outcome,
    )
    record.time.FromNanoseconds(time.time_ns())
    return record


def subject_of(record: audit_pb2.AuditRecord) -> str:
    """The subject a record is published on."""
    if record.batch_id:
        return batch_subject(record.tenant, record.batch_id)
    return content_subject(record.tenant, record.action)


class AuditLog:
    """Publishes records to HULEEDU_AUDIT and waits for JetStream's ack. Records of one turn of
    the event loop (concurrent calls) share one atomic commit (atomic_batch.TurnBatcher)."""

    def __init__(self, js: JetStreamContext, service: str) -> None:
        self._js = js
        self.service = service
        self._turns = TurnBatcher(connection_of(js), self._publish_one, lambda _where: None)

    async def publish(self, record: audit_pb2.AuditRecord) -> None:
        """Store `record`; the same record again (same id) is stored once."""
        headers = {HEADER_MSG_ID: record.record_id, HEADER_TYPE: _RECORD_TYPE}
        await self._turns.store(Outgoing(subject_of(record), record.SerializeToString(), headers))

    async def _publish_one(self, message: Outgoing) -> None:
        with storage_health(self._js).watch(AUDIT_STREAM):
            await self._js.publish(message.subject, message.payload, headers=dict(message.headers))
