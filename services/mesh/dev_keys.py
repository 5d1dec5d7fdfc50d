"""`python -m services.mesh.dev_keys DIR`: development signing keys in DIR, once.

docker compose runs it as its one-shot `auth-init` service before any service starts. The first
time it creates `issuer.pem`, `services.pem` and `jwks.json` in DIR (create_dev_keys). Once the
JWKS the services read is there (AUTH_JWKS_FILE, by default DIR/jwks.json) it changes nothing, so
tokens already issued keep working and an operator's own issuer's JWKS is left as it is.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from services.mesh.auth import create_dev_keys


def ensure_dev_keys(directory: Path, jwks_file: Path | None = None) -> bool:
    """Create development keys in `directory` unless `jwks_file` (default: its jwks.json)
    exists; True when it created them."""
    if (jwks_file or directory / "jwks.json").is_file():
        return False
    create_dev_keys(directory)
    return True


def main(argv: list[str] | None = None) -> int:
    """Create the keys or say that they are kept; an unwritable directory is one line, exit 1."""
    parser = argparse.ArgumentParser(prog="python -m services.mesh.dev_keys", description=__doc__)
    parser.add_argument("directory", type=Path, help="where the keys are (compose: /auth)")
    directory = parser.parse_args(argv).directory
    named = os.environ.get("AUTH_JWKS_FILE", "").strip()
    jwks_file = Path(named) if named else directory / "jwks.json"
    try:
        created = ensure_dev_keys(directory, jwks_file)
    except OSError as error:
        print(
            f"dev_keys: cannot write the keys in {directory} ({error}); it must be a directory "
            f"writable by uid {os.getuid()}",
            file=sys.stderr,
        )
        return 1
    if created:
        print(f"created development keys in {directory}: issuer.pem, services.pem, jwks.json")
    else:
        print(f"kept the keys: {jwks_file} is there")
    return 0


if __name__ == "__main__":
    sys.exit(main())
