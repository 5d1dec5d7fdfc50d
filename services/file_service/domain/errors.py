"""Why an upload is rejected, and the errors that say so."""

from __future__ import annotations

from enum import StrEnum


class RejectionCode(StrEnum):
    """Why an uploaded file was rejected; names match `huleedu.common.v1.ValidationErrorCode`."""

    EMPTY_CONTENT = "EMPTY_CONTENT"
    CONTENT_TOO_SHORT = "CONTENT_TOO_SHORT"
    CONTENT_TOO_LONG = "CONTENT_TOO_LONG"
    UNSUPPORTED_FORMAT = "UNSUPPORTED_FORMAT"
    CORRUPT_FILE = "CORRUPT_FILE"
    ENCRYPTED_FILE_UNSUPPORTED = "ENCRYPTED_FILE_UNSUPPORTED"
    NO_TEXT_LAYER = "NO_TEXT_LAYER"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    EXTRACTION_TIMEOUT = "EXTRACTION_TIMEOUT"


class FileRejectedError(Exception):
    """The file cannot become an essay; `detail` is a sentence a teacher can act on."""

    def __init__(self, code: RejectionCode, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class InvalidUploadError(ValueError):
    """The request itself is malformed (no batch id, no file name): nothing was stored; `field`
    names the bad field."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class BatchNotRegisteredError(LookupError):
    """The batch is unknown to the File Service, even after waiting for its registration."""


class UploadTooLargeError(ValueError):
    """The file is over the upload size limit: nothing was stored or announced."""


class BatchFileLimitError(ValueError):
    """The batch already has as many different files as it takes: nothing was stored."""
