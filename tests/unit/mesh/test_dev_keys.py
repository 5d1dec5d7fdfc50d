"""`python -m services.mesh.dev_keys DIR` (docker compose's `auth-init`) and `huleedu login
--print` (how a compose user gets a token): keys made once and kept after, an operator's JWKS left
alone, a token printed that the keys' JWKS verifies."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.cli.app import run as huleedu
from services.mesh.auth import AuthSettings, TokenVerifier
from services.mesh.dev_keys import main as dev_keys

KEY_FILES = ("issuer.pem", "services.pem", "jwks.json")


def contents(directory: Path) -> dict[str, bytes]:
    return {name: (directory / name).read_bytes() for name in KEY_FILES}


def test_the_keys_are_created_once_and_kept_by_every_later_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUTH_JWKS_FILE", raising=False)
    keys = tmp_path / "auth"

    assert dev_keys([str(keys)]) == 0
    first = contents(keys)
    assert "created development keys" in capsys.readouterr().out
    assert dev_keys([str(keys)]) == 0

    assert contents(keys) == first
    assert "kept the keys" in capsys.readouterr().out


def test_an_operators_jwks_is_left_as_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = tmp_path / "auth"
    keys.mkdir()
    own = keys / "production-jwks.json"
    own.write_text('{"keys": []}\n')
    monkeypatch.setenv("AUTH_JWKS_FILE", str(own))

    assert dev_keys([str(keys)]) == 0

    assert [path.name for path in keys.iterdir()] == [own.name]
    assert f"kept the keys: {own} is there" in capsys.readouterr().out


def test_a_directory_it_cannot_write_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUTH_JWKS_FILE", raising=False)
    not_a_directory = tmp_path / "auth"
    not_a_directory.write_text("a file where the keys should go")

    assert dev_keys([str(not_a_directory)]) == 1

    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot write the keys in {not_a_directory}" in err


def test_login_print_writes_the_token_to_stdout_only_signed_with_huleedu_issuer_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUTH_JWKS_FILE", raising=False)
    keys = tmp_path / "auth"
    assert dev_keys([str(keys)]) == 0
    capsys.readouterr()
    token_file = tmp_path / "token"
    monkeypatch.setenv("HULEEDU_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("HULEEDU_ISSUER_KEY", str(keys / "issuer.pem"))

    assert huleedu(["login", "--tenant", "demo", "--print"]) == 0

    token = capsys.readouterr().out.strip()
    assert not token_file.exists()
    caller = TokenVerifier(AuthSettings(jwks_file=keys / "jwks.json")).verify(token)
    assert (caller.tenant, caller.role) == ("demo", "teacher")
