"""KV keys for client-supplied ids: readable when safe, hashed when not."""

from __future__ import annotations

import hashlib
import re

_SAFE = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")


def batch_key(batch_id: str) -> str:
    """A valid KV key token for a batch id; ids with other characters are hashed (prefix "=",
    which a safe id never has, so the two kinds cannot collide)."""
    if _SAFE.match(batch_id):
        return batch_id
    return "=" + hashlib.sha256(batch_id.encode("utf-8")).hexdigest()
