"""scout-dagster: Scout FindAll and deep-search runs as Dagster assets backed by Parquet.

The layers, each in one place (see ``README.md``):

- ``ScoutClient`` (``_client.py``): typed HTTP calls, retries, errors, event streams.
- models (``_models.py``): the contract's objects; no I/O.
- ``scout_dagster.emulator``: a local Scout server for tests, demos and CI.
"""

from ._client import ScoutClient
from ._config import API_VERSION, DEFAULT_BASE_URL, DEFAULT_RETRY, DEFAULT_TIMEOUT, RetryPolicy
from ._errors import (
    RunBudgetExceeded,
    RunDeadlineExceeded,
    RunFailed,
    ScoutAPIError,
    ScoutAuthenticationError,
    ScoutBadRequestError,
    ScoutConflictError,
    ScoutConnectionError,
    ScoutDecodeError,
    ScoutError,
    ScoutInsufficientCreditsError,
    ScoutNotFoundError,
    ScoutPermissionError,
    ScoutRateLimitError,
    ScoutServerError,
    ScoutTimeoutError,
    ScoutTransportError,
    ScoutValidationError,
)
from ._models import (
    Candidate,
    CandidateBasis,
    Citation,
    FieldOutput,
    FindAllEvent,
    FindAllRun,
    RunState,
    RunStatus,
    SearchEvent,
    SearchFinding,
    SearchResult,
    SearchRun,
    SearchSource,
    SearchUsage,
    StatusMetrics,
)

__all__ = [
    "API_VERSION",
    "DEFAULT_BASE_URL",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "Candidate",
    "CandidateBasis",
    "Citation",
    "FieldOutput",
    "FindAllEvent",
    "FindAllRun",
    "RetryPolicy",
    "RunBudgetExceeded",
    "RunDeadlineExceeded",
    "RunFailed",
    "RunState",
    "RunStatus",
    "ScoutAPIError",
    "ScoutAuthenticationError",
    "ScoutBadRequestError",
    "ScoutClient",
    "ScoutConflictError",
    "ScoutConnectionError",
    "ScoutDecodeError",
    "ScoutError",
    "ScoutInsufficientCreditsError",
    "ScoutNotFoundError",
    "ScoutPermissionError",
    "ScoutRateLimitError",
    "ScoutServerError",
    "ScoutTimeoutError",
    "ScoutTransportError",
    "ScoutValidationError",
    "SearchEvent",
    "SearchFinding",
    "SearchResult",
    "SearchRun",
    "SearchSource",
    "SearchUsage",
    "StatusMetrics",
]

# Show the public names as scout_dagster.X rather than scout_dagster._module.X
# in reprs, tracebacks and docs (as httpx does).
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and _obj.__module__.startswith("scout_dagster._"):
        _obj.__module__ = __name__
del _name, _obj
