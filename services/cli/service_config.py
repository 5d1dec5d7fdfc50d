"""The gRPC service config the CLI's channels carry: gRPC itself asks again, a few times within
about 1.5 s, when an idempotent call fails UNAVAILABLE. Any gRPC client can copy it (docs/using.md
quotes it). It names only calls that are safe to repeat: reads, and UploadFiles (the File
Service answers a re-sent file DUPLICATE). RegisterBatch is left out because a config cannot see
whether a request carries a request_id; the CLI repeats it itself when it does.

gRPC caps maxAttempts at 5, retries a streamed call only while what it sent fits its retry
buffer (256 KiB by default), and does not tell the caller it retried; the CLI's own loop
(services/cli/retry.py) covers the rest of the horizon and tells the user."""

from __future__ import annotations

import json
from typing import Any

_BATCH = "huleedu.batch.v1.BatchOrchestratorService"
_FILE = "huleedu.file.v1.FileService"
_ESSAY = "huleedu.essay.v1.EssayLifecycleService"
_CONTENT = "huleedu.content.v1.ContentService"

SERVICE_CONFIG: dict[str, Any] = {
    "methodConfig": [
        {
            "name": [
                {"service": _BATCH, "method": "GetBatch"},
                {"service": _BATCH, "method": "ListBatches"},
                # A server stream is retried only until its first message arrives.
                {"service": _BATCH, "method": "WatchBatch"},
                {"service": _FILE, "method": "UploadFiles"},
                {"service": _ESSAY, "method": "GetEssay"},
                {"service": _ESSAY, "method": "ListBatchEssays"},
                {"service": _CONTENT, "method": "GetContent"},
            ],
            "retryPolicy": {
                "maxAttempts": 5,
                "initialBackoff": "0.1s",
                "maxBackoff": "1s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ]
}

SERVICE_CONFIG_JSON = json.dumps(SERVICE_CONFIG)
