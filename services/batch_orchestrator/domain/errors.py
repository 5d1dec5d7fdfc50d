"""Errors the BOS domain and use cases raise; the entrypoints translate each one once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of a request and what is wrong with it."""

    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.field}: {self.problem}"


class BatchError(Exception):
    """Base of the BOS domain errors."""


class InvalidRequest(BatchError):
    """A request has bad fields; the message names each of them."""

    def __init__(self, violations: Sequence[FieldViolation]) -> None:
        self.violations = tuple(violations)
        super().__init__("; ".join(str(v) for v in self.violations))

    @classmethod
    def single(cls, field: str, problem: str) -> InvalidRequest:
        """An error about one field."""
        return cls([FieldViolation(field, problem)])


class BatchNotFound(BatchError):
    """No batch has this id."""

    def __init__(self, batch_id: str, message: str = "") -> None:
        self.batch_id = batch_id
        super().__init__(message or f"no batch with batch_id {batch_id!r}")


class RequestIdReused(BatchError):
    """A RegisterBatch request_id already registered a batch, with other fields than these."""

    def __init__(self, batch_id: str, differences: Sequence[str]) -> None:
        self.batch_id = batch_id
        self.differences = tuple(differences)
        super().__init__(
            f"request_id was already used to register batch {batch_id} with other fields "
            f"({'; '.join(self.differences)}): repeat that request unchanged to get its batch, "
            "or send a new request_id to register another batch"
        )


class PhaseNotStarted(BatchError):
    """A phase outcome arrived for a batch that has not started the phase (yet)."""


class ContractViolation(BatchError):
    """An event contradicts the contract and can never be applied."""


class BackendUnavailable(BatchError):
    """NATS (the KV bucket or the event stream) did not answer; the call may succeed later."""


class NotPermitted(BatchError):
    """The caller may not do this to the batch (only its creator or an admin may erase it)."""

    def __init__(self, batch_id: str, message: str) -> None:
        self.batch_id = batch_id
        super().__init__(message)


class BatchErased(BatchError):
    """The batch was erased: an event still in flight for it changes nothing."""

    def __init__(self, batch_id: str) -> None:
        self.batch_id = batch_id
        super().__init__(f"batch {batch_id!r} was erased")
