"""Where the CLI finds the stack: the services' own variables (`*_ADDR`, `NATS_URL`), each
overridable by a flag of the same name."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from services.cli.errors import EXIT_USAGE, CliError
from services.mesh.settings import (
    DEFAULT_ADDRS,
    DEFAULT_NATS_URL,
    SettingsError,
    env_addr,
    env_str,
)

START_HINT = "start the stack with `make up`"


@dataclass(frozen=True)
class Endpoint:
    """One gRPC service as the CLI dials it."""

    title: str
    variable: str
    addr: str

    @property
    def flag(self) -> str:
        """The command-line flag that overrides the variable."""
        return flag_for(self.variable)

    def unreachable(self) -> str:
        """The sentence printed when nothing answers at the address."""
        return f"cannot reach {self.title} at {self.addr}: {START_HINT} (or set {self.variable})"


@dataclass(frozen=True)
class Endpoints:
    """Every address the CLI may dial."""

    content: Endpoint
    file: Endpoint
    batch: Endpoint
    essay: Endpoint
    nats_url: str


_TITLES = {
    "CONTENT_SERVICE_ADDR": "Content Service",
    "FILE_SERVICE_ADDR": "File Service",
    "BATCH_ORCHESTRATOR_ADDR": "Batch Orchestrator",
    "ESSAY_LIFECYCLE_ADDR": "Essay Lifecycle Service",
}


def flag_for(variable: str) -> str:
    """`BATCH_ORCHESTRATOR_ADDR` → `--batch-orchestrator-addr`."""
    return "--" + variable.lower().replace("_", "-")


def add_endpoint_flags(parser: argparse.ArgumentParser) -> None:
    """Flags that override the address variables."""
    group = parser.add_argument_group("addresses (default: the environment variable, else local)")
    for variable in (*_TITLES, "NATS_URL"):
        default = DEFAULT_ADDRS.get(variable, DEFAULT_NATS_URL)
        group.add_argument(
            flag_for(variable),
            dest=variable.lower(),
            metavar="HOST:PORT" if variable != "NATS_URL" else "URL",
            help=f"${variable}, else {default}",
        )


def resolve_endpoints(args: argparse.Namespace) -> Endpoints:
    """The flag when given, else the environment variable, else the default."""
    try:

        def endpoint(variable: str) -> Endpoint:
            flag_value = getattr(args, variable.lower(), None)
            addr = flag_value or env_addr(variable)
            return Endpoint(_TITLES[variable], variable, addr)

        return Endpoints(
            content=endpoint("CONTENT_SERVICE_ADDR"),
            file=endpoint("FILE_SERVICE_ADDR"),
            batch=endpoint("BATCH_ORCHESTRATOR_ADDR"),
            essay=endpoint("ESSAY_LIFECYCLE_ADDR"),
            nats_url=getattr(args, "nats_url", None) or env_str("NATS_URL", DEFAULT_NATS_URL),
        )
    except SettingsError as error:
        raise CliError(str(error), EXIT_USAGE) from None
