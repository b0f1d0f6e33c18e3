"""The Dagster layer: the only part of scout_dagster that imports dagster."""

from ._assets import build_findall_assets, build_search_assets
from ._current_entities import build_current_entities
from ._decorators import scout_findall_assets, scout_search_assets
from ._io_manager import ScoutParquetIOManager
from ._lifecycle import build_findall_enrich_assets, build_findall_extend_assets
from ._monitor import (
    build_scout_monitor_assets,
    build_scout_monitor_run_job,
    build_scout_monitor_sensor,
    monitor_partition_key,
)
from ._resource import ScoutResource
from ._runs_ledger import build_scout_runs_ledger
from ._translator import DagsterScoutTranslator, ScoutMetadataSet, ScoutTableProps

__all__ = [
    "DagsterScoutTranslator",
    "ScoutMetadataSet",
    "ScoutParquetIOManager",
    "ScoutResource",
    "ScoutTableProps",
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
