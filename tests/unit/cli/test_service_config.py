"""The service config the CLI's channels carry names real methods, only ones safe to repeat, and
is the one the docs (docs/using.md) quote for other clients to copy."""

from __future__ import annotations

import json
import re

from huleedu.batch.v1 import batch_service_pb2
from huleedu.content.v1 import content_service_pb2
from huleedu.essay.v1 import essay_service_pb2
from huleedu.file.v1 import file_service_pb2
from services.cli.service_config import SERVICE_CONFIG, SERVICE_CONFIG_JSON
from tests.support import REPO_ROOT

SERVICES = {
    service.full_name: service
    for module in (batch_service_pb2, content_service_pb2, essay_service_pb2, file_service_pb2)
    for service in module.DESCRIPTOR.services_by_name.values()
}


def named_methods() -> list[tuple[str, str]]:
    return [
        (name["service"], name["method"])
        for config in SERVICE_CONFIG["methodConfig"]
        for name in config["name"]
    ]


def test_every_name_is_a_method_the_cli_may_repeat() -> None:
    for service, method in named_methods():
        assert method in SERVICES[service].methods_by_name, (service, method)
    # RegisterBatch registers again without a request_id, which a config cannot see.
    assert {method for _, method in named_methods()} == {
        "GetBatch",
        "ListBatches",
        "WatchBatch",
        "UploadFiles",
        "GetEssay",
        "ListBatchEssays",
        "GetContent",
    }


def test_the_policy_retries_unavailable_within_grpcs_limits() -> None:
    (config,) = SERVICE_CONFIG["methodConfig"]
    policy = config["retryPolicy"]
    assert policy["maxAttempts"] <= 5  # gRPC core's cap
    assert policy["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert json.loads(SERVICE_CONFIG_JSON) == SERVICE_CONFIG


def test_the_docs_quote_the_service_config() -> None:
    readme = (REPO_ROOT / "docs" / "using.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", readme, flags=re.S)
    quoted = [json.loads(block) for block in blocks if '"methodConfig"' in block]
    assert quoted == [SERVICE_CONFIG]
