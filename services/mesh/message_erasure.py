"""Messages removed from a stream with their bytes overwritten: JetStream's message delete with
erase (`$JS.API.STREAM.MSG.DELETE.<stream>`, `no_erase` false), by sequence.

Only this delete overwrites. A purge (of a subject, or the one a rollup header does) and a delete
with `no_erase` mark messages deleted and leave their bytes in the block file until nats-server
compacts or drops it (checked on nats-server 2.15: the payload of a purged, rolled-up or
no_erase-deleted message is still found in the store's `.blk` file, an erased one's is not).
nats-py's `delete_msg` sends `{"seq": N}`, whose `no_erase` the server takes as false; it is
sent here by name, so the overwrite does not rest on a default.

A stream made with `deny_delete` refuses every message delete, and the setting cannot be undone
(nats-server refuses the update): nats-py creates KV buckets so, services.mesh.streams' ensure_kv
does not. A bucket made by an earlier version refuses: DeletesDenied says so.
"""

from __future__ import annotations

import json

from nats.js import JetStreamContext
from nats.js.errors import APIError, NotFoundError

from services.mesh.nats_internals import connection_of

# JetStream's answers to a delete of a sequence not (or no longer) stored: "no message found",
# and "sequence N not found" when another delete of it is being applied at the same time. The
# first code (10057, "message delete failed") also carries a stream's refusal of deletes.
_GONE = frozenset({10057, 10043})
_DENIED = "message delete not permitted"
_API_TIMEOUT_S = 5.0


class DeletesDenied(Exception):
    """The stream refuses message deletes (it was made with `deny_delete`)."""


async def erase_message(js: JetStreamContext, stream: str, seq: int) -> None:
    """Delete the message at `seq`, its bytes overwritten on every replica; a message already
    gone (deleted, purged, rolled up) is left as it is. Raises DeletesDenied."""
    answer = await connection_of(js).request(
        f"$JS.API.STREAM.MSG.DELETE.{stream}",
        json.dumps({"seq": seq, "no_erase": False}).encode(),
        timeout=_API_TIMEOUT_S,
    )
    reply = json.loads(answer.data)
    error = reply.get("error")
    if error is not None and error.get("description") == _DENIED:
        raise DeletesDenied(f"stream {stream} refuses message deletes (deny_delete)")
    if error is None or error.get("err_code") in _GONE:
        return
    raise APIError.from_error(error)


async def erase_subject(
    js: JetStreamContext, stream: str, subject: str, *, below: int | None = None
) -> int:
    """Erase every message on `subject` (with `below`, those of a lower sequence only), one by
    one in sequence order, as the stream leader lists them. Returns how many were erased."""
    erased = 0
    after = 0
    while True:
        try:
            message = await js.get_msg(stream, seq=after + 1, subject=subject, next=True)
        except NotFoundError:
            return erased
        after = message.seq or 0
        if below is not None and after >= below:
            return erased
        await erase_message(js, stream, after)
        erased += 1
