"""`python -m devstack up|down|status|run`: the local stack behind `make up`, `make down`
and `make run`."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from devstack.cli_login import login_cli
from devstack.commands import run_command, say
from devstack.processes import read_pid_files
from devstack.stack import (
    NATS,
    REPO_ROOT,
    SERVICES,
    LocalStack,
    RunDir,
    StackAddresses,
    StackError,
    running_processes,
    stop_recorded,
)
from services.mesh.health_probe import check_health
from services.mesh.settings import SettingsError

SAMPLE_CLASS = REPO_ROOT / "examples" / "essays"


def _stack(args: argparse.Namespace) -> LocalStack:
    addresses = StackAddresses.free() if args.free_ports else StackAddresses.from_env()
    return LocalStack(RunDir(args.run_dir), addresses, auth=args.auth)


def up(args: argparse.Namespace) -> int:
    """Start the stack in the background and return once every service is SERVING."""
    stack = _stack(args)
    say(f"starting nats-server and {len(SERVICES)} services (run dir {args.run_dir})")
    stack.start()
    if args.auth:
        token = login_cli(stack.run_dir.auth, args.tenant)
        say(
            f"authentication on: keys in {stack.run_dir.auth}/; a teacher token for tenant "
            f"{args.tenant} in {token} (another: huleedu login --tenant NAME)"
        )
    say(
        f"logs: {stack.run_dir.logs}/  pids: {stack.run_dir.pids}/  "
        f"addresses: {stack.run_dir.env_file}\n"
        "try: .venv/bin/huleedu submit examples/essays   stop: make down\n"
        f"NATS as the operator (huleedu events, nats): set -a; . {stack.run_dir.env_file}; set +a"
    )
    return 0


def down(args: argparse.Namespace) -> int:
    """Stop the stack recorded in the run directory."""
    if stop_recorded(RunDir(args.run_dir), say) == 0:
        say(f"no stack running from {args.run_dir}")
    return 0


def status(args: argparse.Namespace) -> int:
    """Print each recorded process, whether it runs, and each service's health; exit 1 unless
    everything runs and serves."""
    run_dir = RunDir(args.run_dir)
    recorded = {process.name: process for process in read_pid_files(run_dir.pids)}
    if not recorded:
        print(f"no stack recorded in {args.run_dir} (start one with `make up`)")
        return 1
    addresses = StackAddresses.read(run_dir.env_file) if run_dir.env_file.exists() else None
    healthy = True
    for name in (NATS, *(spec.name for spec in SERVICES)):
        process = recorded.get(name)
        state = "running" if process is not None and process.alive else "stopped"
        detail = ""
        spec = next((spec for spec in SERVICES if spec.name == name), None)
        if spec is not None and addresses is not None and state == "running":
            addr = addresses.services[spec.addr_variable]
            detail = f"{addr}  {check_health(addr)}"
            healthy = healthy and detail.endswith(" SERVING")
        elif name == NATS and addresses is not None:
            detail = addresses.nats_address
        pid = process.pid if process is not None else "-"
        print(f"{name:<20} pid {pid!s:<8} {state:<8} {detail}")
        healthy = healthy and state == "running"
    return 0 if healthy else 1


def run(args: argparse.Namespace) -> int:
    """Start the stack (or use the one `make up` started), submit the sample class with the
    huleedu CLI, print the results, and stop what was started, also on Ctrl-C or failure."""
    run_dir = RunDir(args.run_dir)
    stack: LocalStack | None = None
    if running_processes(run_dir) and run_dir.env_file.exists():
        addresses = StackAddresses.read(run_dir.env_file)
        say(f"using the stack already running from {args.run_dir}")
    else:
        stack = _stack(args)
        addresses = stack.addresses
        say(f"starting nats-server and {len(SERVICES)} services (run dir {args.run_dir})")
    try:
        if stack is not None:
            stack.start()
            if args.auth:
                login_cli(stack.run_dir.auth, args.tenant)
        paths = [_shown(path) for path in args.paths]
        say(f"$ huleedu submit {' '.join(paths)}")
        return subprocess.call(
            [sys.executable, "-m", "services.cli", "submit", *paths],
            env={**os.environ, **addresses.env()},
        )
    finally:
        if stack is not None and stack.stop():
            say("the stack is stopped; `make up` keeps one running for huleedu, grpcurl, nats")


def _shown(path: Path) -> str:
    """The path relative to the working directory when it is inside it, else as given."""
    return os.path.relpath(path) if path.resolve().is_relative_to(Path.cwd()) else str(path)


def parser() -> argparse.ArgumentParser:
    """The command line."""
    top = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    top.add_argument(
        "--run-dir",
        type=Path,
        default=REPO_ROOT / ".run",
        help="where pids, logs, the NATS store and stack.env live (default: .run)",
    )
    top.add_argument(
        "--auth",
        action="store_true",
        help="verify bearer tokens: create development keys under the run directory and log "
        "the CLI in (make up and make run do this)",
    )
    top.add_argument(
        "--tenant",
        default="demo",
        help="with --auth, the tenant the CLI is logged in to (default: demo)",
    )
    top.add_argument(
        "--free-ports",
        action="store_true",
        help="listen on free ports instead of NATS_URL and the *_ADDR variables",
    )
    commands = top.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start the stack in the background").set_defaults(func=up)
    commands.add_parser("down", help="stop the background stack").set_defaults(func=down)
    commands.add_parser("status", help="show the stack's processes").set_defaults(func=status)
    run_parser = commands.add_parser("run", help="start, submit the sample class, stop")
    run_parser.add_argument("paths", nargs="*", type=Path, default=[SAMPLE_CLASS])
    run_parser.set_defaults(func=run)
    return top


def main(argv: list[str] | None = None) -> int:
    """Run one command; errors are one line on stderr, never a traceback."""
    return run_command(
        parser().parse_args(argv), program="devstack", expected=(StackError, SettingsError)
    )


if __name__ == "__main__":
    sys.exit(main())
