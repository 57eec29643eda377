"""What an Azure SDK error means for us, said without its text (which may hold a signed URL).

Which errors are worth retrying, a short reason for logs and DestinationError messages,
and a filter that hides SAS signatures in the HTTP library's own debug lines.
"""

from __future__ import annotations

import logging
import re
from typing import Final

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)

#: Statuses worth retrying: throttling, timeouts and passing server trouble.
RETRYABLE_STATUS: Final = frozenset({408, 429, 500, 502, 503, 504})

_SIGNATURE: Final = re.compile(r"(?i)(\bsig=)[^&\s\"']+")
_TRANSPORT_LOGGERS: Final = ("urllib3.connectionpool", "urllib3.util.retry")


class _RedactSignatures(logging.Filter):
    """Hides SAS signatures in urllib3's DEBUG request lines, which carry the full URL."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "sig=" in message.lower():
            record.msg, record.args = _SIGNATURE.sub(r"\1REDACTED", message), ()
        return True


def redact_signatures_in_transport_logs() -> None:
    """Installed once: the SDK redacts its own logs, but not those of the HTTP library under it."""
    for name in _TRANSPORT_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactSignatures) for f in logger.filters):
            logger.addFilter(_RedactSignatures())


def code(exc: AzureError) -> str:
    """The service's error code (``AppendPositionConditionNotMet``, ...), or empty."""
    value = getattr(exc, "error_code", None)
    return str(getattr(value, "value", value) or "")


def transient(exc: AzureError) -> bool:
    """Whether retrying may help: connection trouble or a status in :data:`RETRYABLE_STATUS`."""
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return True
    return isinstance(exc, HttpResponseError) and exc.status_code in RETRYABLE_STATUS


def reason(exc: AzureError) -> str:
    """A description of ``exc`` without its message, which may contain a signed URL."""
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        return f"HTTP {exc.status_code} {code(exc)}".rstrip()
    if isinstance(exc, (ServiceRequestTimeoutError, ServiceResponseTimeoutError)):
        return "timed out"
    if isinstance(exc, ServiceRequestError):
        return "connection failed"
    if isinstance(exc, ServiceResponseError):
        return "connection lost before the response"
    return type(exc).__name__
