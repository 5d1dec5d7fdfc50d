"""Errors the domain raises; the entry points translate them once (DLQ, gRPC status)."""

from __future__ import annotations


class InvalidEventError(ValueError):
    """An event can never be applied: it breaks the contract (missing ids, unknown batch...)."""


class StoreUnavailableError(RuntimeError):
    """The state store cannot be read right now; the caller may retry."""
