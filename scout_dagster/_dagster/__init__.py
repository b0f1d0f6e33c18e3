"""The Dagster layer: the only part of scout_dagster that imports dagster."""

from ._assets import build_findall_assets, build_search_assets
from ._io_manager import ScoutParquetIOManager
from ._resource import ScoutResource

__all__ = ["ScoutParquetIOManager", "ScoutResource", "build_findall_assets", "build_search_assets"]
