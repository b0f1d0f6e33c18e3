"""scout-dagster: Scout FindAll and deep-search runs as Dagster assets backed by Parquet.

The layers, each in one place (see ``docs/layout.md``):

- Dagster layer (``_dagster/``): ``ScoutResource`` (which runs the execution
  protocol), ``ScoutParquetIOManager``, ``DagsterScoutTranslator``, the
  decorators ``scout_findall_assets``/``scout_search_assets`` and the
  factories ``build_findall_assets``/``build_search_assets``.
- run follower (``_follower.py``): create or adopt a run, follow it, deadline,
  budget, cancel; knows nothing of Dagster.
- ``ScoutClient`` (``_client.py``): typed HTTP calls, retries, errors, event streams.
- models (``_models.py``): the contract's objects; no I/O.
- tables (``tables/``, pure) and storage (``_storage.py``): Arrow tables, Parquet files.
- ``scout_dagster.emulator``: a local Scout server for tests, demos and CI.
"""

import importlib as _importlib
import typing as _typing

from ._config import API_VERSION, DEFAULT_BASE_URL, DEFAULT_RETRY, RetryPolicy
from ._errors import (
    RunBudgetExceeded,
    RunDeadlineExceeded,
    RunFailed,
    RunTerminated,
    ScoutAPIError,
    ScoutAuthenticationError,
    ScoutBadRequestError,
    ScoutConfigError,
    ScoutConflictError,
    ScoutConnectionError,
    ScoutDeadlineError,
    ScoutDecodeError,
    ScoutError,
    ScoutInsufficientCreditsError,
    ScoutNotFoundError,
    ScoutPermissionError,
    ScoutRateLimitError,
    ScoutRunBodyError,
    ScoutServerError,
    ScoutTimeoutError,
    ScoutTransportError,
    ScoutValidationError,
)
from ._events import FindAllEvent, SearchEvent
from ._models import (
    Candidate,
    CandidateBasis,
    Citation,
    FieldOutput,
    FindAllRun,
    RunState,
    RunStatus,
    SearchFinding,
    SearchResult,
    SearchRun,
    SearchSource,
    SearchUsage,
    StatusMetrics,
)
from ._monitors import Monitor, MonitorEvent, MonitorRequest, MonitorResult
from ._requests import FindAllRequest, SearchRequest
from ._version import __version__

if _typing.TYPE_CHECKING:
    from ._client import DEFAULT_TIMEOUT, ScoutClient
    from ._dagster import (
        DagsterScoutTranslator,
        ScoutMetadataSet,
        ScoutParquetIOManager,
        ScoutResource,
        ScoutTableProps,
        build_current_entities,
        build_findall_assets,
        build_findall_enrich_assets,
        build_findall_extend_assets,
        build_scout_monitor_assets,
        build_scout_monitor_run_job,
        build_scout_monitor_sensor,
        build_scout_runs_ledger,
        build_search_assets,
        monitor_partition_key,
        scout_findall_assets,
        scout_search_assets,
    )
    from ._follower import FollowResult, RunFollower, RunProgress
    from ._monitor_calls import MonitorCalls
    from ._storage import ParquetStore, SchemaConflictError, WrittenTable

# The Dagster layer and the Parquet storage are imported on first use: the
# client and the emulator (a process of its own) should not pay for importing
# dagster and pyarrow. So are the client and the follower (httpx): loading a
# code location's definitions makes no request and needs no HTTP client.
_LAZY = {
    "DEFAULT_TIMEOUT": "._client",
    "ScoutClient": "._client",
    "FollowResult": "._follower",
    "RunFollower": "._follower",
    "RunProgress": "._follower",
    "MonitorCalls": "._monitor_calls",
    "DagsterScoutTranslator": "._dagster",
    "ScoutMetadataSet": "._dagster",
    "ScoutTableProps": "._dagster",
    "scout_findall_assets": "._dagster",
    "build_current_entities": "._dagster",
    "build_scout_runs_ledger": "._dagster",
    "scout_search_assets": "._dagster",
    "ScoutParquetIOManager": "._dagster",
    "ScoutResource": "._dagster",
    "build_findall_assets": "._dagster",
    "build_findall_enrich_assets": "._dagster",
    "build_findall_extend_assets": "._dagster",
    "build_search_assets": "._dagster",
    "build_scout_monitor_assets": "._dagster",
    "build_scout_monitor_run_job": "._dagster",
    "build_scout_monitor_sensor": "._dagster",
    "monitor_partition_key": "._dagster",
    "ParquetStore": "._storage",
    "WrittenTable": "._storage",
    "SchemaConflictError": "._storage",
}


def __getattr__(name: str) -> _typing.Any:
    if name in _LAZY:
        value = getattr(_importlib.import_module(_LAZY[name], __name__), name)
        if isinstance(value, type):
            value.__module__ = __name__
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "API_VERSION",
    "DEFAULT_BASE_URL",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "Candidate",
    "CandidateBasis",
    "Citation",
    "DagsterScoutTranslator",
    "FieldOutput",
    "FindAllEvent",
    "FindAllRequest",
    "FindAllRun",
    "FollowResult",
    "Monitor",
    "MonitorCalls",
    "MonitorEvent",
    "MonitorRequest",
    "MonitorResult",
    "ParquetStore",
    "RetryPolicy",
    "RunBudgetExceeded",
    "RunDeadlineExceeded",
    "RunFailed",
    "RunFollower",
    "RunProgress",
    "RunState",
    "RunStatus",
    "RunTerminated",
    "SchemaConflictError",
    "ScoutAPIError",
    "ScoutAuthenticationError",
    "ScoutBadRequestError",
    "ScoutClient",
    "ScoutConfigError",
    "ScoutConflictError",
    "ScoutConnectionError",
    "ScoutDeadlineError",
    "ScoutDecodeError",
    "ScoutError",
    "ScoutInsufficientCreditsError",
    "ScoutMetadataSet",
    "ScoutNotFoundError",
    "ScoutParquetIOManager",
    "ScoutPermissionError",
    "ScoutRateLimitError",
    "ScoutResource",
    "ScoutRunBodyError",
    "ScoutServerError",
    "ScoutTableProps",
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
    "WrittenTable",
    "__version__",
    "build_current_entities",
    "build_findall_assets",
    "build_findall_enrich_assets",
    "build_findall_extend_assets",
    "build_scout_monitor_assets",
    "build_scout_monitor_run_job",
    "build_scout_monitor_sensor",
    "build_scout_runs_ledger",
    "build_search_assets",
    "monitor_partition_key",
    "scout_findall_assets",
    "scout_search_assets",
]

# Show the public names as scout_dagster.X rather than scout_dagster._module.X
# in reprs, tracebacks and docs (as httpx does).
for _name in __all__:
    if _name in _LAZY:
        continue
    _obj = globals()[_name]
    if isinstance(_obj, type) and _obj.__module__.startswith("scout_dagster._"):
        _obj.__module__ = __name__
del _name, _obj
