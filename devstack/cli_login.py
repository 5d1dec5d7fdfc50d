"""The CLI logged in to a stack started with `--auth` (the local stack and the local cluster): a
development token for a teacher of a tenant, signed with the stack's issuer key and written
where `huleedu` reads it."""

from __future__ import annotations

import os
from pathlib import Path

from services.cli.credentials import token_file, write_token
from services.mesh.auth import mint_token


def login_cli(keys: Path, tenant: str) -> Path:
    """A teacher token for `tenant`, signed with `keys`/issuer.pem, in the CLI's token file
    (HULEEDU_TOKEN_FILE, else ~/.config/huleedu/token); the file's path."""
    path = token_file()
    subject = os.environ.get("USER", "") or "teacher"
    write_token(mint_token(keys / "issuer.pem", tenant=tenant, subject=subject), path)
    return path
