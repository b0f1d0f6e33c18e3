"""The public surface is pinned (as httpx's tests/test_exported_members.py does).

A name added to or dropped from ``scout_dagster.__all__`` fails here until
this list is changed with it; nothing public takes or returns a type from a
private module that is not itself exported.
"""

import inspect
import typing
from importlib.metadata import version
from types import ModuleType, UnionType
from typing import Any, get_args, get_origin

import scout_dagster

PUBLIC = [
    "API_VERSION",
    "Candidate",
    "CandidateBasis",
    "Citation",
    "DEFAULT_BASE_URL",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
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
#: Public submodules: importable by name, not re-exported. ``tables``: the
#: pure table modules (schemas, provenance, ids, readers, data versions).
SUBMODULES = {"components", "emulator", "tables"}


def test_all_is_pinned() -> None:
    assert sorted(scout_dagster.__all__, key=str.casefold) == sorted(PUBLIC, key=str.casefold)
    assert len(set(scout_dagster.__all__)) == len(scout_dagster.__all__)


def test_every_public_name_resolves_and_names_its_package() -> None:
    for name in PUBLIC:
        value = getattr(scout_dagster, name)
        if isinstance(value, type):
            assert value.__module__ == "scout_dagster", (name, value.__module__)


def test_nothing_public_is_left_out_of_all() -> None:
    for name in PUBLIC:
        getattr(scout_dagster, name)  # load the lazy ones
    public = {
        name
        for name, value in vars(scout_dagster).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert public - set(PUBLIC) == set()
    modules = {
        name
        for name, value in vars(scout_dagster).items()
        if not name.startswith("_") and isinstance(value, ModuleType)
    }
    assert modules <= SUBMODULES


def test_the_version_is_the_installed_one() -> None:
    assert scout_dagster.__version__ == version("scout-dagster")


def _private_types(annotation: Any) -> set[str]:
    """Classes from scout_dagster's private modules that an annotation names."""
    found: set[str] = set()
    origin = get_origin(annotation)
    if origin is not None or isinstance(annotation, UnionType):
        for arg in get_args(annotation):
            found |= _private_types(arg)
        return found
    if isinstance(annotation, type):
        module = annotation.__module__
        if module.startswith("scout_dagster._") and annotation.__name__ not in PUBLIC:
            found.add(f"{module}.{annotation.__qualname__}")
    return found


def _signatures(value: Any) -> list[tuple[str, Any]]:
    if inspect.isclass(value):
        members = [
            (f"{value.__name__}.{name}", member)
            for name, member in vars(value).items()
            if callable(member) and (not name.startswith("_") or name == "__init__")
        ]
        return members
    return [(value.__name__, value)] if callable(value) else []


def test_nothing_public_takes_or_returns_a_private_type() -> None:
    offenders: dict[str, set[str]] = {}
    for name in PUBLIC:
        value = getattr(scout_dagster, name)
        for where, function in _signatures(value):
            function = getattr(function, "__func__", function)
            try:
                hints = typing.get_type_hints(function)
            except Exception:  # a hint that needs a name only type checkers see
                continue
            # A parameter whose name starts with _ is private itself.
            private = set().union(
                *(_private_types(h) for n, h in hints.items() if not n.startswith("_"))
            )
            if private:
                offenders[where] = private
    assert offenders == {}


def test_the_components_module_is_pinned() -> None:
    from scout_dagster import components

    assert components.__all__ == [
        "ScoutFindAllComponent",
        "ScoutIOManagerAttributes",
        "ScoutMonitorComponent",
        "ScoutResourceAttributes",
        "ScoutSearchComponent",
    ]
    for name in components.__all__:
        assert getattr(components, name).__module__ == "scout_dagster.components"
