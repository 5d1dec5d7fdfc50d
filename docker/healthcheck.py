"""Container health check: exit 0 when the gRPC server at HOST:PORT answers SERVING to
grpc.health.v1.Health/Check, else 1. Usage: python docker/healthcheck.py HOST:PORT"""

from __future__ import annotations

import sys

from services.mesh.health_probe import check_health


def main(argv: list[str]) -> int:
    """Probe the address given as the only argument."""
    if len(argv) != 2:
        print("usage: python docker/healthcheck.py HOST:PORT", file=sys.stderr)
        return 2
    status = check_health(argv[1], timeout_s=3.0)
    print(f"{argv[1]} {status}")
    return 0 if status == "SERVING" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
