"""The last message of many subjects of one stream in one request: JetStream's batched direct get
(`multi_last`, nats-server 2.11 and later, on streams created with allow_direct).

One direct get per subject costs a request and its answer each, on both sides; reading the
metas and chunks of a whole BatchGetContent this way costs one request, answered by one stream
of messages that ends with an end-of-batch status (204). A replica answers, as for any direct
get, and may lag: callers treat a subject missing from the answer as "ask the leader", never as
"gone".
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from nats.errors import NoRespondersError
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import APIError

from services.mesh.nats_internals import connection_of

# nats-server answers 413 (Too Many Results) to a request for more than 1,024 subjects.
MAX_SUBJECTS = 1000
_END_OF_BATCH = "204"
_NO_RESULTS = "404"
_NO_RESPONDERS = "503"


async def last_messages(
    js: JetStreamContext, stream: str, subjects: Sequence[str]
) -> dict[str, RawStreamMsg]:
    """The last message on each subject that has one, by subject; subjects with none are absent.
    Raises NoRespondersError when no replica serves direct gets, and APIError for any other
    refusal. It waits as long as it takes: callers bound it (asyncio.timeout)."""
    found: dict[str, RawStreamMsg] = {}
    unique = list(dict.fromkeys(subjects))
    for start in range(0, len(unique), MAX_SUBJECTS):
        found.update(await _ask(js, stream, unique[start : start + MAX_SUBJECTS]))
    return found


async def _ask(
    js: JetStreamContext, stream: str, subjects: Sequence[str]
) -> dict[str, RawStreamMsg]:
    connection = connection_of(js)
    inbox = connection.new_inbox()
    answers = await connection.subscribe(inbox)
    found: dict[str, RawStreamMsg] = {}
    try:
        await connection.publish(
            f"$JS.API.DIRECT.GET.{stream}",
            json.dumps({"multi_last": list(subjects)}).encode(),
            reply=inbox,
        )
        while True:
            message = await answers.next_msg(timeout=None)
            headers = message.headers or {}
            status = headers.get("Status")
            if status in (_END_OF_BATCH, _NO_RESULTS):
                return found
            if status == _NO_RESPONDERS:
                raise NoRespondersError
            if status:
                raise APIError.from_msg(message)
            raw = RawStreamMsg(
                subject=headers["Nats-Subject"],
                seq=int(headers["Nats-Sequence"]),
                data=message.data,
                headers=headers,
            )
            found[raw.subject or ""] = raw
    finally:
        await answers.unsubscribe()
