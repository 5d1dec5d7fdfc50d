"""The bearer token the CLI sends, and `huleedu login`, which writes one.

The token comes from HULEEDU_TOKEN (the JWT itself), else from the file HULEEDU_TOKEN_FILE names,
else from the file `huleedu login` writes ($XDG_CONFIG_HOME/huleedu/token, by default
~/.config/huleedu/token). Without any, calls carry no token: a stack without authentication
takes them, one with it answers UNAUTHENTICATED.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from services.cli.errors import EXIT_OK, EXIT_USAGE, CliError

# Where `make up` keeps the development keys (devstack, run directory `.run`); HULEEDU_ISSUER_KEY
# names another (docker compose's `cli` service: /auth/issuer.pem).
DEV_ISSUER_KEY = Path(".run") / "auth" / "issuer.pem"


def issuer_key() -> Path:
    """The development issuer key `huleedu login` signs with unless told otherwise."""
    named = os.environ.get("HULEEDU_ISSUER_KEY", "").strip()
    return Path(named) if named else DEV_ISSUER_KEY


def token_file() -> Path:
    """The file the token is read from and `huleedu login` writes."""
    named = os.environ.get("HULEEDU_TOKEN_FILE", "").strip()
    if named:
        return Path(named)
    config = os.environ.get("XDG_CONFIG_HOME", "").strip() or str(Path.home() / ".config")
    return Path(config) / "huleedu" / "token"


def bearer_token() -> str | None:
    """The token for this command's calls, if any."""
    token = os.environ.get("HULEEDU_TOKEN", "").strip()
    if token:
        return token
    path = token_file()
    if path.is_file():
        return path.read_text(encoding="utf-8").strip() or None
    return None


def token_tenant() -> str | None:
    """The tenant claim of this command's token (read, not verified: the services verify it),
    or None without a token."""
    import jwt  # noqa: PLC0415 (only the commands that need it pay for the import)

    token = bearer_token()
    if token is None:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as error:
        raise CliError(f"the CLI's token is not a JWT ({error}); run `huleedu login`") from error
    return str(claims.get("tenant", ""))


def write_token(token: str, path: Path) -> None:
    """Store `token` where only this user can read it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(token + "\n", encoding="utf-8")


def add_login_flags(sub: argparse.ArgumentParser) -> None:
    """`huleedu login`'s flags."""
    sub.add_argument("--tenant", required=True, help="the school (tenant) to act in, e.g. demo")
    sub.add_argument("--subject", default="", help="who you are (default: your user name)")
    sub.add_argument("--role", choices=("teacher", "admin"), default="teacher")
    sub.add_argument(
        "--issuer-key",
        type=Path,
        default=issuer_key(),
        metavar="PEM",
        help=f"the development issuer's private key (default: $HULEEDU_ISSUER_KEY, else "
        f"{DEV_ISSUER_KEY}, which `make up` creates)",
    )
    sub.add_argument(
        "--print",
        action="store_true",
        dest="print_token",
        help="print the token on stdout instead of storing it (for HULEEDU_TOKEN=, grpcurl, "
        "docker compose)",
    )
    sub.add_argument(
        "--hours", type=float, default=12.0, help="how long the token lasts (default: 12)"
    )


def login(args: argparse.Namespace) -> int:
    """Sign a development token with the local issuer key and store it for later commands."""
    if not args.issuer_key.is_file():
        raise CliError(
            f"no issuer key at {args.issuer_key}: start the local stack with `make up` (it "
            "creates one), get one from docker compose (`docker compose run --rm -T cli huleedu "
            "login --tenant NAME --print`), or get a token from your identity provider and set "
            "HULEEDU_TOKEN",
            EXIT_USAGE,
        )
    from services.mesh.auth import mint_token  # noqa: PLC0415 (JWT and gRPC only for login)

    subject = args.subject or os.environ.get("USER", "") or "teacher"
    try:
        token = mint_token(
            args.issuer_key,
            tenant=args.tenant,
            subject=subject,
            role=args.role,
            ttl_s=args.hours * 3600,
        )
    except ValueError as error:
        raise CliError(str(error), EXIT_USAGE) from None
    if args.print_token:
        print(token)
        return EXIT_OK
    path = token_file()
    write_token(token, path)
    print(f"logged in to tenant {args.tenant} as {subject} ({args.role}); token in {path}")
    return EXIT_OK
