"""Settings read from environment variables, with errors that name the variable."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

DEFAULT_ADDRS: dict[str, str] = {
    "CONTENT_SERVICE_ADDR": "127.0.0.1:50051",
    "FILE_SERVICE_ADDR": "127.0.0.1:50052",
    "BATCH_ORCHESTRATOR_ADDR": "127.0.0.1:50053",
    "ESSAY_LIFECYCLE_ADDR": "127.0.0.1:50054",
    "SPELL_CHECKER_ADDR": "127.0.0.1:50055",
}
DEFAULT_NATS_URL = "nats://127.0.0.1:4222"

_ADDR_RE = re.compile(r"^(?P<host>\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.\-]*):(?P<port>\d{1,5})$")
_IPV4_RE = re.compile(r"^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def env_str(name: str, default: str) -> str:
    """A string setting."""
    value = _raw(name)
    return default if value is None else value


def env_file(name: str) -> Path | None:
    """A setting naming a file that must exist; None when unset."""
    value = _raw(name)
    if value is None:
        return None
    path = Path(value)
    if not path.is_file():
        raise SettingsError(f"{name}={value!r} is not a readable file")
    return path


def env_int(
    name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """An integer setting within [minimum, maximum]."""
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(f"{name}={value!r} is not an integer") from None
    _check_range(name, number, minimum, maximum)
    return number


def env_float(
    name: str, default: float, *, minimum: float | None = None, maximum: float | None = None
) -> float:
    """A number setting within [minimum, maximum]."""
    value = _raw(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise SettingsError(f"{name}={value!r} is not a number") from None
    _check_range(name, number, minimum, maximum)
    return number


def env_bool(name: str, default: bool) -> bool:
    """A yes/no setting: 1/true/yes/on or 0/false/no/off."""
    value = _raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise SettingsError(f"{name}={value!r} is not a boolean (use true or false)")


def env_addr(name: str, default: str | None = None) -> str:
    """A "host:port" address; the default comes from DEFAULT_ADDRS when not given."""
    fallback = default if default is not None else DEFAULT_ADDRS[name]
    value = env_str(name, fallback)
    match = _ADDR_RE.match(value)
    if match is None or int(match["port"]) > 65535:
        raise SettingsError(f"{name}={value!r} is not an address of the form host:port")
    return value


def env_dial_target(name: str) -> str:
    """Where a client dials a service: one "host:port" (a host name may resolve to several
    instances, as docker compose's network aliases do), or a comma-separated list of IPv4
    "address:port" instances, returned as gRPC's `ipv4:a:p,b:q` target. Channels spread calls
    over every address with round_robin and skip one that is down."""
    value = env_str(name, DEFAULT_ADDRS[name])
    items = [item.strip() for item in value.split(",")]
    if len(items) == 1:
        return env_addr(name)
    for item in items:
        match = _ADDR_RE.match(item)
        if match is None or not _IPV4_RE.match(match["host"]) or int(match["port"]) > 65535:
            raise SettingsError(
                f"{name}={value!r}: a list must name instances as IPv4 address:port, e.g. "
                "127.0.0.1:50051,127.0.0.1:50061 (for host names, use one name that resolves "
                f"to every instance); {item!r} is not one"
            )
    return "ipv4:" + ",".join(items)


def env_list(name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    """A comma-separated list setting."""
    value = _raw(name)
    if value is None:
        return default
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _check_range(name: str, number: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and number < minimum:
        raise SettingsError(f"{name}={number} is below the minimum {minimum}")
    if maximum is not None and number > maximum:
        raise SettingsError(f"{name}={number} is above the maximum {maximum}")


def redact_url(url: str) -> str:
    """The URL with any password or token replaced, safe to log."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    # The text after the last "@" as written: parsing the port would raise on a malformed one,
    # and this runs while reporting exactly such a URL.
    host_and_port = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://***@{host_and_port}{parts.path}"


def inbox_prefix(user: str | None) -> str:
    """The inbox prefix of a client logged in as `user`: `_INBOX_<user>` (its NATS permissions
    let it subscribe to its own replies only, so no service can read the answers another gets:
    devstack/nats_users.py), or nats-py's `_INBOX` without a user."""
    if not user:
        return "_INBOX"
    return "_INBOX_" + re.sub(r"[^A-Za-z0-9_-]", "_", unquote(user))


def _nats_servers(name: str) -> tuple[str, ...]:
    servers = env_list(name, (DEFAULT_NATS_URL,))
    for server in servers:
        parts = urlsplit(server)
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.scheme not in {"nats", "tls", "ws", "wss"} or not parts.hostname or port is None:
            raise SettingsError(
                f"{name}={redact_url(server)!r} is not a NATS URL like nats://127.0.0.1:4222"
            )
    return servers


@dataclass(frozen=True)
class NatsSettings:
    """How a service reaches NATS and how streams, buckets and consumers are provisioned."""

    servers: tuple[str, ...]
    max_deliver: int
    ack_wait_s: float
    replicas: int
    event_retention_s: float
    duplicate_window_s: float
    # How long a JetStream API request or publish waits for its answer: what a call in flight
    # when its node dies waits before the client tries again through another node.
    request_timeout_s: float = 5.0
    # How long a consumer's pull requests may fail without a break before the service answers
    # NOT_SERVING (an election takes seconds; a consumer missing on the server does not heal).
    consumer_stall_s: float = 30.0
    # How long provisioning at start goes on asking a JetStream that does not answer (an election,
    # a slow disk, no quorum yet) before the service gives up starting.
    provision_wait_s: float = 60.0
    # How long a consumed message waits (jittered backoff) for a dependency that does not answer
    # (NATS, the Content Service) before such failures count against its NATS_MAX_DELIVER.
    dependency_horizon_s: float = 300.0
    # How long the audit log (HULEEDU_AUDIT) keeps its records.
    audit_retention_s: float = 365 * 24 * 3600.0

    @property
    def url(self) -> str:
        """The servers as the comma-separated NATS_URL form."""
        return ",".join(self.servers)

    @property
    def inbox_prefix(self) -> str:
        """Where the replies to this client's requests go: see `inbox_prefix`."""
        return inbox_prefix(urlsplit(self.servers[0]).username if self.servers else None)

    @classmethod
    def from_env(cls) -> NatsSettings:
        """Read NATS_URL and the NATS_* provisioning settings."""
        return cls(
            servers=_nats_servers("NATS_URL"),
            max_deliver=env_int("NATS_MAX_DELIVER", 5, minimum=1, maximum=100),
            ack_wait_s=env_float("NATS_ACK_WAIT_S", 30.0, minimum=1.0, maximum=3600.0),
            replicas=env_int("NATS_REPLICAS", 1, minimum=1, maximum=5),
            event_retention_s=env_float("NATS_EVENT_RETENTION_S", 7 * 24 * 3600.0, minimum=60.0),
            duplicate_window_s=env_float("NATS_DUPLICATE_WINDOW_S", 120.0, minimum=1.0),
            request_timeout_s=env_float("NATS_REQUEST_TIMEOUT_S", 5.0, minimum=0.5, maximum=120.0),
            consumer_stall_s=env_float("NATS_CONSUMER_STALL_S", 30.0, minimum=1.0),
            provision_wait_s=env_float("NATS_PROVISION_WAIT_S", 60.0, minimum=1.0, maximum=3600.0),
            dependency_horizon_s=env_float(
                "DEPENDENCY_RETRY_HORIZON_S", 300.0, minimum=0.0, maximum=86400.0
            ),
            audit_retention_s=env_float("AUDIT_RETENTION_DAYS", 365.0, minimum=1.0, maximum=36500.0)
            * 24
            * 3600.0,
        )


@dataclass(frozen=True)
class Documented:
    """One environment variable as the docs list it: the settings modules are the one source of
    the settings tables (`python -m devstack.settings_docs` writes them into docs/, and a test
    fails when a variable is read but not documented, or documented but not read)."""

    variable: str
    default: str
    meaning: str


# Read by every service (NatsSettings, and the addresses the services dial).
SHARED_SETTINGS: tuple[Documented, ...] = (
    Documented("LOG_LEVEL", "`INFO`", "level of the JSON log lines on stderr"),
    Documented(
        "METRICS_ENABLED",
        "`true`",
        "`false`: no `/metrics` (each service's address is its `*_METRICS_ADDR`)",
    ),
    Documented(
        "NATS_URL",
        "`nats://127.0.0.1:4222`",
        "NATS server(s); a comma-separated list for a cluster",
    ),
    Documented(
        "NATS_MAX_DELIVER",
        "`5`",
        "deliveries of one message before it goes to the DLQ",
    ),
    Documented(
        "NATS_ACK_WAIT_S",
        "`30`",
        "seconds a delivery may stay unanswered (handlers send `in_progress` while working)",
    ),
    Documented(
        "NATS_REPLICAS",
        "`1`",
        "replicas of streams, KV buckets and the Object Store (3 on a cluster)",
    ),
    Documented(
        "NATS_EVENT_RETENTION_S",
        "`604800`",
        "age limit of `HULEEDU_EVENTS` (the DLQ keeps 4×)",
    ),
    Documented(
        "AUDIT_RETENTION_DAYS",
        "`365`",
        (
            "age limit of `HULEEDU_AUDIT`, the audit log of every read and write of essay content "
            "(records cannot be deleted before; see the security page)"
        ),
    ),
    Documented(
        "NATS_DUPLICATE_WINDOW_S",
        "`120`",
        "JetStream duplicate window for `Nats-Msg-Id`",
    ),
    Documented(
        "NATS_REQUEST_TIMEOUT_S",
        "`5`",
        (
            "how long a JetStream request or publish waits for its answer (a call in flight when "
            "its node dies is retried after this)"
        ),
    ),
    Documented(
        "NATS_CONSUMER_STALL_S",
        "`30`",
        (
            "seconds of failing pull requests before a consumer counts as stalled and health "
            "answers `NOT_SERVING`"
        ),
    ),
    Documented(
        "DEPENDENCY_RETRY_HORIZON_S",
        "`300`",
        (
            "how long a consumed message waits (jittered backoff, no delivery counted) for NATS or "
            "a service that does not answer before such failures count against `NATS_MAX_DELIVER`; "
            "0 counts every one"
        ),
    ),
    Documented(
        "NATS_PROVISION_WAIT_S",
        "`60`",
        (
            "how long a service starting up goes on asking a JetStream that does not answer (an "
            "election, a slow disk, no quorum yet, JetStream not enabled) before it exits with a "
            "message saying what to check"
        ),
    ),
    Documented(
        "CONTENT_SERVICE_ADDR",
        "`127.0.0.1:50051`",
        (
            "Content Service gRPC address (bind and dial); to dial several instances, a "
            "comma-separated list of IPv4 `address:port` (calls go round-robin and skip an instance"
            " that is down) or one host name that resolves to all of them"
        ),
    ),
    Documented(
        "FILE_SERVICE_ADDR",
        "`127.0.0.1:50052`",
        "File Service gRPC address",
    ),
    Documented(
        "BATCH_ORCHESTRATOR_ADDR",
        "`127.0.0.1:50053`",
        "Batch Orchestrator gRPC address",
    ),
    Documented(
        "ESSAY_LIFECYCLE_ADDR",
        "`127.0.0.1:50054`",
        "Essay Lifecycle gRPC address",
    ),
    Documented(
        "SPELL_CHECKER_ADDR",
        "`127.0.0.1:50055`",
        "Spell Checker gRPC (health) address",
    ),
)
