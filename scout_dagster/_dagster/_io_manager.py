"""``ScoutParquetIOManager``: asset outputs as Parquet, loaded as Arrow or pandas.

Tables (``pyarrow.Table`` or ``pandas.DataFrame``) are written by
:class:`~scout_dagster._storage.ParquetStore`: atomically, one hive-style
folder per partition, below a local path or any URI pyarrow understands. A
``str`` output (a search run's Markdown report) is written as ``report.md``
in the same layout. Downstream assets get a ``pyarrow.Table`` unless they
annotate their input as ``pandas.DataFrame`` (or ``str`` for a report).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dagster import (
    ConfigurableIOManager,
    InputContext,
    MetadataValue,
    MultiPartitionKey,
    OutputContext,
)
from dagster._core.definitions.metadata import TableMetadataSet
from pydantic import Field, PrivateAttr, field_validator

from .._base_location import DATA_FILE, SINGLE_DIMENSION, check_base_location
from ._literal import check_literal

# The store (pyarrow) is imported when a table is first written or read:
# the definitions, which configure this IO manager, load without pyarrow.
if TYPE_CHECKING:
    from .._storage import ParquetStore

__all__ = ["DEFAULT_BASE_PATH", "ScoutParquetIOManager"]

#: Where tables go when nothing else is configured: ``SCOUT_DAGSTER_DATA`` or ./data/scout.
DEFAULT_BASE_PATH = "data/scout"
REPORT_FILE = "report.md"
#: Executors whose steps all run on the machine that launched the run: there a
#: relative folder is one folder. Under any other (Celery, k8s, docker) each
#: worker would write its own copy.
SINGLE_HOST_EXECUTORS = frozenset(
    {"in_process", "multiprocess", "multi_or_in_process_executor", "execute_in_process_executor"}
)


def distributed_storage_warning(base_path: str, executor_name: str | None) -> str | None:
    """The warning for a relative local folder under a step-isolating executor, else None."""
    if executor_name is None or executor_name in SINGLE_HOST_EXECUTORS:
        return None
    if "://" in base_path or os.path.isabs(base_path):
        return None
    return (
        f"ScoutParquetIOManager writes to the relative local folder {base_path!r}, but this "
        f"job's executor ({executor_name}) runs steps in other processes or hosts: each "
        "worker writes its own copy, and a downstream step may not find the tables. Set "
        "base_path to object storage every worker reaches, e.g. 's3://bucket/scout' or "
        "'gs://bucket/scout' (or SCOUT_DAGSTER_DATA to it)."
    )


def _executor_name(context: OutputContext) -> str | None:
    try:
        return str(context.step_context.job_def.executor_def.name)
    except Exception:  # an output context built outside a run has no step
        return None


def _is_pandas_frame_type(annotation: object) -> bool:
    # Compared by name so that importing this module does not import pandas
    # (half a second a process for users who never ask for a DataFrame).
    return getattr(annotation, "__name__", None) == "DataFrame" and str(
        getattr(annotation, "__module__", "")
    ).startswith("pandas")


def _partition_dict(key: str | MultiPartitionKey) -> dict[str, str]:
    if isinstance(key, MultiPartitionKey):
        return dict(sorted(key.keys_by_dimension.items()))
    return {SINGLE_DIMENSION: key}


class ScoutParquetIOManager(ConfigurableIOManager):
    """Stores Scout tables as zstd Parquet.

    Layout: ``<base_path>/<asset key path>/[<dimension>=<key>/]data.parquet``.
    """

    base_path: str = Field(
        default_factory=lambda: os.environ.get("SCOUT_DAGSTER_DATA", DEFAULT_BASE_PATH),
        description="Local folder or URI (s3://bucket/prefix, gs://…) the tables go under.",
        examples=["data/scout", "s3://my-bucket/scout"],
        # A default read from SCOUT_DAGSTER_DATA is checked like a given value.
        validate_default=True,
    )

    _store: ParquetStore | None = PrivateAttr(default=None)
    _warned: bool = PrivateAttr(default=False)

    @field_validator("base_path", mode="before")
    @classmethod
    def _check_base_path(cls, value: Any) -> Any:
        return check_literal(value, check_base_location)

    @property
    def store(self) -> ParquetStore:
        if self._store is None:
            from .._storage import ParquetStore

            self._store = ParquetStore(self.base_path)
        return self._store

    @staticmethod
    def _table_name(context: OutputContext | InputContext) -> str:
        return "/".join(context.asset_key.path)

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        if obj is None:
            return
        name = self._table_name(context)
        self._warn_if_distributed(context)
        partition = (
            _partition_dict(context.asset_partition_key) if context.has_asset_partitions else None
        )
        if isinstance(obj, str):
            uri = self.store.write_text(name, REPORT_FILE, obj, partition)
            context.add_output_metadata({"dagster/uri": MetadataValue.path(uri)})
            return
        import pyarrow as pa

        from ..tables.spool import SpooledTable

        pandas = sys.modules.get("pandas")
        if pandas is not None and isinstance(obj, pandas.DataFrame):
            obj = pa.Table.from_pandas(obj, preserve_index=False)
        # A spooled table (a large FindAll run's entities) is written from its file.
        if not isinstance(obj, pa.Table | SpooledTable):
            raise TypeError(
                f"ScoutParquetIOManager stores pyarrow.Table, pandas.DataFrame or str outputs; "
                f"asset {name} returned {type(obj).__name__}"
            )
        written = self.store.write(name, obj, partition)
        context.add_output_metadata(
            {
                "dagster/uri": MetadataValue.path(written.uri),
                # What a hive-partitioned reader calls the folder (DuckDB's
                # read_parquet('<base>/<name>/**/*.parquet'), pyarrow.dataset).
                **TableMetadataSet(table_name=name, storage_kind="parquet"),
                "scout/table_bytes": MetadataValue.int(written.bytes),
            }
        )

    def _warn_if_distributed(self, context: OutputContext) -> None:
        if self._warned:
            return
        self._warned = True
        warning = distributed_storage_warning(self.base_path, _executor_name(context))
        if warning is not None:
            context.log.warning(warning)

    def load_input(self, context: InputContext) -> Any:
        name = self._table_name(context)
        wanted = context.dagster_type.typing_type
        partitions: list[Mapping[str, str]] | None = None
        if context.has_asset_partitions:
            # Only partitions that were materialized: a downstream asset that
            # takes every partition must not fail on the ones not yet run.
            file_name = REPORT_FILE if wanted is str else DATA_FILE
            partitions = [
                p
                for p in (_partition_dict(key) for key in context.asset_partition_keys)
                if self.store.exists(name, p, file_name)
            ]
        if wanted is str:
            parts = partitions or [None]  # type: ignore[list-item]
            return "\n\n".join(self.store.read_text(name, REPORT_FILE, p) for p in parts)
        table = self.store.read(name, partitions)
        if _is_pandas_frame_type(wanted):
            return table.to_pandas()
        return table
