"""Settings from environment variables: defaults, parsing, and errors that name the variable."""

from __future__ import annotations

import pytest

from services.mesh.settings import (
    NatsSettings,
    SettingsError,
    env_addr,
    env_bool,
    env_dial_target,
    env_float,
    env_int,
    redact_url,
)


def test_defaults_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "NATS_URL",
        "NATS_MAX_DELIVER",
        "NATS_REPLICAS",
        "NATS_PROVISION_WAIT_S",
        "CONTENT_SERVICE_ADDR",
    ):
        monkeypatch.delenv(name, raising=False)
    settings = NatsSettings.from_env()
    assert settings.url == "nats://127.0.0.1:4222"
    assert settings.max_deliver == 5
    assert settings.replicas == 1
    assert settings.provision_wait_s == 60.0
    assert env_addr("CONTENT_SERVICE_ADDR") == "127.0.0.1:50051"


def test_nats_url_takes_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", "nats://a:4222, nats://b:4223")
    assert NatsSettings.from_env().servers == ("nats://a:4222", "nats://b:4223")


@pytest.mark.parametrize(
    ("name", "value", "read", "fragment"),
    [
        ("NATS_MAX_DELIVER", "five", NatsSettings.from_env, "is not an integer"),
        ("NATS_REPLICAS", "0", NatsSettings.from_env, "below the minimum"),
        ("NATS_PROVISION_WAIT_S", "0.5", NatsSettings.from_env, "below the minimum"),
        ("NATS_URL", "http://x:1", NatsSettings.from_env, "is not a NATS URL"),
        ("NATS_URL", "nats://host", NatsSettings.from_env, "is not a NATS URL"),
        ("FILE_SERVICE_ADDR", "nohost", lambda: env_addr("FILE_SERVICE_ADDR"), "host:port"),
        ("FILE_SERVICE_ADDR", "h:99999", lambda: env_addr("FILE_SERVICE_ADDR"), "host:port"),
        ("X_RATIO", "abc", lambda: env_float("X_RATIO", 1.0), "is not a number"),
        ("X_LIMIT", "12", lambda: env_int("X_LIMIT", 1, maximum=10), "above the maximum"),
        ("X_FLAG", "maybe", lambda: env_bool("X_FLAG", True), "is not a boolean"),
    ],
)
def test_malformed_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, read: object, fragment: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as error:
        read()  # type: ignore[operator]
    assert name in str(error.value)
    assert fragment in str(error.value)


def test_errors_and_redaction_never_show_a_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", "http://user:s3cret@host:4222")
    with pytest.raises(SettingsError) as error:
        NatsSettings.from_env()
    assert "s3cret" not in str(error.value)
    assert redact_url("nats://user:s3cret@host:4222") == "nats://***@host:4222"
    assert redact_url("nats://host:4222") == "nats://host:4222"


@pytest.mark.parametrize(
    "url",
    ["tls://user:s3cret@host:4222x:", "nats://user:s3cret@host:99999", "nats://tok@s3cret@h:1x"],
)
def test_a_malformed_port_is_reported_as_a_setting_without_the_password(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("NATS_URL", url)
    with pytest.raises(SettingsError, match="NATS_URL") as error:
        NatsSettings.from_env()
    assert "s3cret" not in str(error.value)


def test_a_dial_target_is_one_address_or_a_list_of_ipv4_instances(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONTENT_SERVICE_ADDR", "content-service-cluster:50051")
    assert env_dial_target("CONTENT_SERVICE_ADDR") == "content-service-cluster:50051"
    monkeypatch.setenv("CONTENT_SERVICE_ADDR", "127.0.0.1:50051, 127.0.0.1:50061")
    assert env_dial_target("CONTENT_SERVICE_ADDR") == "ipv4:127.0.0.1:50051,127.0.0.1:50061"


@pytest.mark.parametrize(
    "value",
    ["a:1,b:2", "127.0.0.1:50051,", "127.0.0.1:50051,127.0.0.1:99999", "300.0.0.1:1,10.0.0.1:2"],
)
def test_a_dial_target_list_of_anything_but_ipv4_instances_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("CONTENT_SERVICE_ADDR", value)
    with pytest.raises(SettingsError, match=r"^CONTENT_SERVICE_ADDR=.*IPv4 address:port"):
        env_dial_target("CONTENT_SERVICE_ADDR")
