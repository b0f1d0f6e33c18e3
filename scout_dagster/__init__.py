"""scout-dagster: Scout FindAll and deep-search runs as Dagster assets backed by Parquet.

The layers, each in one place (see ``README.md``):

- Dagster layer (``_dagster/``): ``ScoutResource``, ``ScoutParquetIOManager``,
  ``build_findall_assets``, ``build_search_assets``.
- run follower (``_follower.py``): create or adopt a run, follow it, deadline,
  budget, cancel; knows nothing of Dagster.
- ``ScoutClient`` (``_client.py``): typed HTTP calls, retries, errors, event streams.
- models (``_models.py``): the contract's objects; no I/O.
- tables (``_tables.py``) and storage (``_storage.py``): Arrow tables, Parquet files.
- ``scout_dagster.emulator``: a local Scout server for tests, demos and CI.
"""

from ._client import ScoutClient
from ._config import API_VERSION, DEFAULT_BASE_URL, DEFAULT_RETRY, DEFAULT_TIMEOUT, RetryPolicy
from ._dagster import (
    ScoutParquetIOManager,
    ScoutResource,
    build_findall_assets,
    build_search_assets,
)
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
from ._follower import FollowResult, RunFollower, RunProgress
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
from ._requests import FindAllRequest, SearchRequest
from ._storage import ParquetStore

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
    "FindAllRequest",
    "FindAllRun",
    "FollowResult",
    "ParquetStore",
    "RetryPolicy",
    "RunBudgetExceeded",
    "RunDeadlineExceeded",
    "RunFailed",
    "RunFollower",
    "RunProgress",
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
    "ScoutParquetIOManager",
    "ScoutPermissionError",
    "ScoutRateLimitError",
    "ScoutResource",
    "ScoutServerError",
    "ScoutTimeoutError",
    "ScoutTransportError",
    "ScoutValidationError",
    "SearchEvent",
    "SearchFinding",
    "SearchRequest",
    "SearchResult",
    "SearchRun",
    "SearchSource",
    "SearchUsage",
    "StatusMetrics",
    "build_findall_assets",
    "build_search_assets",
]

# Show the public names as scout_dagster.X rather than scout_dagster._module.X
# in reprs, tracebacks and docs (as httpx does).
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and _obj.__module__.startswith("scout_dagster._"):
        _obj.__module__ = __name__
del _name, _obj
