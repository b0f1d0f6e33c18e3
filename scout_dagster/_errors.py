"""Every error scout_dagster raises, in one rooted tree.

```
ScoutError
├── ScoutConfigError               no usable configuration (no API key, say): nothing was sent
├── ScoutTransportError            the request got no usable answer (maybe retryable)
│   ├── ScoutConnectionError       connect failed or the connection dropped
│   ├── ScoutTimeoutError          connect/read/write/pool timeout
│   │   └── ScoutDeadlineError     abandoned at the materialization's deadline (not retried)
│   └── ScoutDecodeError           a 2xx whose body is not the JSON we expect
├── ScoutRunBodyError              a run object whose contents cannot be read (not retried)
├── ScoutAPIError                  the server answered with an error status
│   ├── ScoutBadRequestError       400
│   ├── ScoutAuthenticationError   401
│   ├── ScoutInsufficientCreditsError  402
│   ├── ScoutPermissionError       403
│   ├── ScoutNotFoundError         404
│   ├── ScoutConflictError         409
│   ├── ScoutValidationError       422 (.errors: FastAPI-style detail list)
│   ├── ScoutRateLimitError        429 (.retry_after_s)
│   └── ScoutServerError           5xx (.retry_after_s on 503)
└── RunFailed                      a remote run ended without a usable result
    ├── RunDeadlineExceeded        we ran out of time and cancelled it
    ├── RunBudgetExceeded          it passed its credit ceiling and we cancelled it
    └── RunTerminated              the Dagster run was terminated while it waited
```

Every HTTP error's message names the method, the path, the status and the
server's own message; no message ever names the API key (requests are described by method and path
only; headers are never rendered).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "RunBudgetExceeded",
    "RunDeadlineExceeded",
    "RunFailed",
    "RunTerminated",
    "ScoutAPIError",
    "ScoutAuthenticationError",
    "ScoutBadRequestError",
    "ScoutConfigError",
    "ScoutConflictError",
    "ScoutConnectionError",
    "ScoutDeadlineError",
    "ScoutDecodeError",
    "ScoutError",
    "ScoutInsufficientCreditsError",
    "ScoutNotFoundError",
    "ScoutPermissionError",
    "ScoutRateLimitError",
    "ScoutRunBodyError",
    "ScoutServerError",
    "ScoutTimeoutError",
    "ScoutTransportError",
    "ScoutValidationError",
    "error_for_status",
]


class ScoutError(Exception):
    """Root of every error this package raises."""


class ScoutConfigError(ScoutError, ValueError):
    """The resource cannot make a request as configured (no API key where the
    run executes, say). Raised before any request."""


class ScoutRunBodyError(ScoutError):
    """A run object whose contents cannot be read (``entities`` that is not a
    list, ``credits`` that is not a number, ...). Unlike a
    :class:`ScoutDecodeError` it is not retried: reading the same run again
    would not mend it."""

    def __init__(self, detail: str, *, run_id: str | None = None) -> None:
        self.detail = detail
        self.run_id = run_id
        run = f"FindAll run {run_id}" if run_id else "the FindAll run"
        super().__init__(f"{run}: its body cannot be read: {detail}")


class ScoutTransportError(ScoutError):
    """The request got no usable answer. ``method``/``path`` say which call."""

    def __init__(self, message: str, *, method: str, path: str) -> None:
        super().__init__(f"{method} {path}: {message}")
        self.method = method
        self.path = path


class ScoutConnectionError(ScoutTransportError):
    """Could not connect, or the connection dropped before a full answer."""


class ScoutTimeoutError(ScoutTransportError):
    """No answer within the request timeout."""


class ScoutDeadlineError(ScoutTimeoutError):
    """The request was abandoned (or never sent) because the deadline of the
    work it belongs to passed. Never retried: there is no time left."""


class ScoutDecodeError(ScoutTransportError):
    """A success status whose body is not valid JSON of the expected shape."""


class ScoutAPIError(ScoutError):
    """The server answered with an error status.

    Attributes:
        method, path: the call (path without query string).
        status: the HTTP status code.
        message: the server's own message (``detail``), or the body's start.
        request_id: the server's ``x-request-id``, for support tickets.
        detail: the decoded ``detail`` field as sent (string or list).
    """

    default_hint: str = ""

    def __init__(
        self,
        *,
        method: str,
        path: str,
        status: int,
        message: str,
        request_id: str | None = None,
        detail: Any = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.message = message
        self.request_id = request_id
        self.detail = detail
        text = f"{method} {path} returned {status}: {message}"
        if request_id:
            text += f" (request id {request_id})"
        if self.default_hint:
            text += f". {self.default_hint}"
        super().__init__(text)


class ScoutBadRequestError(ScoutAPIError):
    """400: the request was malformed."""


class ScoutAuthenticationError(ScoutAPIError):
    """401: the API key is missing or wrong."""

    default_hint = "Check SCOUT_API_KEY (or the resource's api_key)"


class ScoutInsufficientCreditsError(ScoutAPIError):
    """402: the account has too few credits for this run."""

    default_hint = "Top up the Scout account's credits or lower the run's limit"


class ScoutPermissionError(ScoutAPIError):
    """403: the key may not do this."""

    default_hint = "The API key is valid but not allowed to make this call"


class ScoutNotFoundError(ScoutAPIError):
    """404: no such run (or endpoint)."""


class ScoutConflictError(ScoutAPIError):
    """409: e.g. an Idempotency-Key reused with a different request."""


class ScoutValidationError(ScoutAPIError):
    """422: the body failed validation. ``errors`` is the FastAPI-style list."""

    @property
    def errors(self) -> list[dict[str, Any]]:
        return list(self.detail) if isinstance(self.detail, list) else []


class _RetryAfterMixin:
    retry_after_s: float | None = None


class ScoutRateLimitError(_RetryAfterMixin, ScoutAPIError):
    """429: too many requests (or too many run creations in the window)."""


class ScoutServerError(_RetryAfterMixin, ScoutAPIError):
    """5xx: the server failed."""


_STATUS_CLASSES: dict[int, type[ScoutAPIError]] = {
    400: ScoutBadRequestError,
    401: ScoutAuthenticationError,
    402: ScoutInsufficientCreditsError,
    403: ScoutPermissionError,
    404: ScoutNotFoundError,
    409: ScoutConflictError,
    422: ScoutValidationError,
    429: ScoutRateLimitError,
}


def error_for_status(
    *,
    method: str,
    path: str,
    status: int,
    message: str,
    request_id: str | None,
    detail: Any,
    retry_after_s: float | None,
) -> ScoutAPIError:
    """Build the error class that matches ``status``."""
    cls = _STATUS_CLASSES.get(status)
    if cls is None:
        cls = ScoutServerError if status >= 500 else ScoutAPIError
    error = cls(
        method=method,
        path=path,
        status=status,
        message=message,
        request_id=request_id,
        detail=detail,
    )
    if isinstance(error, _RetryAfterMixin):
        error.retry_after_s = retry_after_s
    return error


class RunFailed(ScoutError):
    """A remote run ended without a usable result.

    Attributes:
        run_id: the remote run (``findall_id`` or ``search_id``).
        final_state: its last known state, e.g. ``"failed"`` or ``"cancelled"``.
        server_error: the run's ``error`` field, when the server gave one.
        credits: credits the run cost, as last read.
    """

    def __init__(
        self,
        message: str,
        *,
        run_id: str,
        final_state: str,
        server_error: str | None = None,
        credits: int | None = None,
    ) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.final_state = final_state
        self.server_error = server_error
        self.credits = credits


class RunDeadlineExceeded(RunFailed):
    """The run outlived its deadline; it was cancelled."""


class RunBudgetExceeded(RunFailed):
    """The run's credits passed their ceiling; it was cancelled."""


class RunTerminated(RunFailed):
    """The Dagster run was terminated while the step waited on the remote run:
    cancelled by us (``final_state`` says what it became), or left running for
    a re-execution to adopt when cancelling on termination is off."""
