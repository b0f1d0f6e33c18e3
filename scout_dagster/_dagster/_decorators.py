"""``@scout_findall_assets`` and ``@scout_search_assets``: a Scout run as a multi-asset.

The decorated function is the body of the multi-asset; one line runs the
whole protocol (create or adopt, follow, cancel, final read, outputs,
checks), and the body may do work before or after it::

    @scout_findall_assets(name="ai_infra", request=FindAllRequest("S-1 stage AI companies"))
    def ai_infra(context: AssetExecutionContext, scout: ScoutResource):
        yield from scout.run_findall(context, request)

Every table of one remote run is materialized together: the multi-asset is
not subsettable, so the tables always come from the same run and a paid run
is never thrown away. Everything is checked here, when the assets are
defined, before any API call.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

from dagster import (
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    MetadataValue,
    PartitionsDefinition,
    RetryPolicy,
    multi_asset,
)

from .._deadline import MAX_DEADLINE_S
from .._requests import FindAllRequest, SearchRequest
from ..tables.columns import (
    CITATIONS_COLUMNS,
    FINDINGS_COLUMNS,
    RESULTS_COLUMNS,
    SOURCES_COLUMNS,
    Column,
    entities_columns,
    entity_columns,
)
from ._checks import check_specs
from ._metadata import column_schema
from ._output_types import TABLE_TYPES, TableType
from ._partitions import check_request_templates
from ._translator import (
    FINDALL_TABLES,
    PRIMARY_TABLE,
    SEARCH_TABLES,
    DagsterScoutTranslator,
    ScoutMetadataSet,
    ScoutTableProps,
)

__all__ = ["scout_findall_assets", "scout_search_assets"]

#: The spec metadata that holds the declared request's JSON body.
REQUEST_METADATA_KEY = "scout/request"
#: Bumped when the tables' layout changes, so code versions change with it.
TABLES_VERSION = "2"  # 2: partition_start, list and struct columns (issue 12)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ID_COLUMN = {"findall": "entity_id", "search": "result_id"}


@dataclasses.dataclass(frozen=True)
class _Declaration:
    """One Scout multi-asset as declared, checked when it is built."""

    kind: Literal["findall", "search"]
    name: str
    request: FindAllRequest | SearchRequest
    translator: DagsterScoutTranslator
    partitions_def: PartitionsDefinition | None
    timeout_s: float
    credit_budget: int | None
    keep_partial: bool
    pool: str | None
    io_manager_key: str
    retry_policy: RetryPolicy | None
    backfill_policy: BackfillPolicy | None
    blocking_checks: bool
    table_type: TableType | None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(
                f"name must be letters, digits and underscores, starting with a letter, "
                f"got {self.name!r}"
            )
        wanted = FindAllRequest if self.kind == "findall" else SearchRequest
        if not isinstance(self.request, wanted):
            raise ValueError(
                f"request must be a {wanted.__name__}, got {type(self.request).__name__}"
            )
        if not isinstance(self.translator, DagsterScoutTranslator):
            raise ValueError(
                "translator must be a DagsterScoutTranslator (or a subclass), got "
                f"{type(self.translator).__name__}"
            )
        # bool is an int to Python, never a number of seconds or credits to a user.
        timeout = self.timeout_s
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not 0 < timeout < MAX_DEADLINE_S
        ):
            raise ValueError(
                f"timeout_s must be a positive number of seconds, got {timeout!r} "
                f"(below {MAX_DEADLINE_S:g}, a week)"
            )
        budget = self.credit_budget
        if budget is not None and (
            isinstance(budget, bool) or not isinstance(budget, int) or budget < 1
        ):
            raise ValueError(f"credit_budget must be at least 1 credit, got {budget!r}")
        for flag in ("keep_partial", "blocking_checks"):
            if not isinstance(getattr(self, flag), bool):
                shown = "keep_partial_on_timeout" if flag == "keep_partial" else flag
                raise ValueError(f"{shown} must be True or False, got {getattr(self, flag)!r}")
        if self.table_type is not None and self.table_type not in TABLE_TYPES:
            raise ValueError(
                f"table_type must be one of {', '.join(TABLE_TYPES)} (or None: taken from the "
                f"IO manager), got {self.table_type!r}"
            )
        object.__setattr__(
            self, "backfill_policy", _backfill_policy(self.backfill_policy, self.partitions_def)
        )
        check_request_templates(self.request, self.partitions_def)

    @property
    def tables(self) -> tuple[str, ...]:
        return FINDALL_TABLES if self.kind == "findall" else SEARCH_TABLES

    def _columns(self, table: str) -> tuple[Column, ...] | None:
        if table == "entities":
            assert isinstance(self.request, FindAllRequest)
            return entities_columns(entity_columns(self.request))
        return {
            "citations": CITATIONS_COLUMNS,
            "results": RESULTS_COLUMNS,
            "sources": SOURCES_COLUMNS,
            "findings": FINDINGS_COLUMNS,
        }.get(table)

    def specs(self) -> list[AssetSpec]:
        code_version = f"{TABLES_VERSION}-{self.request.fingerprint}"
        specs = []
        for table in self.tables:
            columns = self._columns(table)
            props = ScoutTableProps(
                kind=self.kind,
                name=self.name,
                table=table,
                request=self.request,
                partitions_def=self.partitions_def,
                table_schema=column_schema(columns) if columns is not None else None,
            )
            spec = self.translator.get_asset_spec(props)
            if not isinstance(spec, AssetSpec):
                raise ValueError(
                    f"{type(self.translator).__name__}.get_asset_spec returned "
                    f"{type(spec).__name__} for table {table}; it must return an AssetSpec"
                )
            if spec.partitions_def is not None and spec.partitions_def != self.partitions_def:
                raise ValueError(
                    f"the translator gave table {table} partitions of its own; every table of "
                    "a run has the run's partitions: pass partitions_def to the decorator"
                )
            facts = ScoutMetadataSet(
                kind=self.kind,
                name=self.name,
                table=table,
                request_fingerprint=self.request.fingerprint,
                timeout_s=float(self.timeout_s),
                credit_budget=self.credit_budget,
                keep_partial=self.keep_partial,
                blocking_checks=self.blocking_checks,
                table_type=self.table_type,
            )
            # The request as declared: what assets built on this run (enrich,
            # extend) read its columns and limit from.
            declared = {REQUEST_METADATA_KEY: MetadataValue.json(_json_safe(self.request.body()))}
            spec = spec.merge_attributes(metadata={**dict(facts), **declared})
            if spec.code_version is None:
                spec = spec.replace_attributes(code_version=code_version)
            if "dagster/io_manager_key" not in spec.metadata:
                spec = spec.with_io_manager_key(self.io_manager_key)
            specs.append(spec)
        keys = [spec.key for spec in specs]
        if len(set(keys)) != len(keys):
            raise ValueError(f"the translator gave two tables of {self.name} the same key: {keys}")
        return specs

    def multi_asset(
        self, required_resource_keys: set[str] | None = None
    ) -> Callable[[Callable[..., Any]], AssetsDefinition]:
        specs = self.specs()
        primary = specs[self.tables.index(PRIMARY_TABLE[self.kind])].key
        return multi_asset(
            name=f"{self.name}_{self.kind}",
            specs=specs,
            check_specs=check_specs(
                primary,
                _ID_COLUMN[self.kind],
                blocking=self.blocking_checks,
                partitions_def=self.partitions_def,
            ),
            # One remote run, all its tables: selecting one table selects all.
            can_subset=False,
            partitions_def=self.partitions_def,
            pool=self.pool,
            required_resource_keys=required_resource_keys,
            retry_policy=self.retry_policy,
            backfill_policy=self.backfill_policy,
        )


def _json_safe(body: Mapping[str, Any]) -> Any:
    """``body`` as plain JSON (a metadata value of the user's own may be any object)."""
    return json.loads(json.dumps(body, default=str))


def _backfill_policy(
    given: BackfillPolicy | None, partitions_def: PartitionsDefinition | None
) -> BackfillPolicy | None:
    """One partition per Dagster run: each partition is its own paid remote run,
    its own retry and its own credits in the UI, and a failure costs one
    partition, not a range."""
    if partitions_def is None:
        return given
    if given is None:
        return BackfillPolicy.multi_run(max_partitions_per_run=1)
    if given.max_partitions_per_run != 1:
        raise ValueError(
            "Scout assets materialize one partition per run (one remote run each); "
            "use BackfillPolicy.multi_run(max_partitions_per_run=1), the default"
        )
    return given


def declare(
    kind: Literal["findall", "search"],
    *,
    name: str,
    request: FindAllRequest | SearchRequest,
    translator: DagsterScoutTranslator | None,
    partitions_def: PartitionsDefinition | None,
    timeout_s: float,
    credit_budget: int | None,
    keep_partial: bool,
    pool: str | None,
    io_manager_key: str,
    retry_policy: RetryPolicy | None,
    backfill_policy: BackfillPolicy | None,
    blocking_checks: bool,
    table_type: TableType | None = None,
) -> _Declaration:
    return _Declaration(
        kind=kind,
        name=name,
        request=request,
        translator=translator if translator is not None else DagsterScoutTranslator(),
        partitions_def=partitions_def,
        timeout_s=timeout_s,
        credit_budget=credit_budget,
        keep_partial=keep_partial,
        pool=pool,
        io_manager_key=io_manager_key,
        retry_policy=retry_policy,
        backfill_policy=backfill_policy,
        blocking_checks=blocking_checks,
        table_type=table_type,
    )


def scout_findall_assets(
    *,
    name: str,
    request: FindAllRequest,
    translator: DagsterScoutTranslator | None = None,
    partitions_def: PartitionsDefinition | None = None,
    timeout_s: float = 3600.0,
    credit_budget: int | None = None,
    pool: str | None = "scout",
    io_manager_key: str = "scout_io_manager",
    retry_policy: RetryPolicy | None = None,
    backfill_policy: BackfillPolicy | None = None,
    blocking_checks: bool = False,
    table_type: TableType | None = None,
) -> Callable[[Callable[..., Any]], AssetsDefinition]:
    """A FindAll run as two tables, ``<name>_entities`` and ``<name>_citations``.

    The body calls ``yield from scout.run_findall(context, request)`` with the
    same ``request``.

    Args:
        name: base name of the assets (letters, digits, underscores).
        request: the run to create; its query may name the partition
            (``"... founded in {start:%B %Y}"``, see ``partitions_def``).
        translator: builds each table's ``AssetSpec`` (keys, groups, kinds,
            metadata, deps, automation conditions, freshness policies).
        partitions_def: one remote run per partition.
        timeout_s: seconds to wait before the remote run is cancelled and the
            materialization fails (the whole materialization: create, wait, read).
        credit_budget: cancel the run and fail once it has cost more credits.
        pool: Dagster concurrency pool; set its limit to stay within the API's
            rate limits (``dagster instance concurrency set scout 4``).
        io_manager_key: where the tables go (unless the translator sets one).
        retry_policy: step retries adopt the remote run; they never pay twice.
        backfill_policy: must be one partition per run (the default).
        blocking_checks: a failed check (empty run, duplicate ids, rows without
            a source URL) stops the assets downstream of this run.
        table_type: ``"arrow"``, ``"pandas"`` or ``"polars"``: what the tables
            are handed to their IO manager as. None (the default): what the IO
            manager takes, when it says (``ScoutParquetIOManager`` and
            Dagster's DuckDB, Snowflake, BigQuery, Delta and Iceberg IO
            managers do), else Arrow. The report is Markdown text for
            ``ScoutParquetIOManager`` and a one-row table for any other.
    """
    return declare(
        "findall",
        name=name,
        request=request,
        translator=translator,
        partitions_def=partitions_def,
        timeout_s=timeout_s,
        credit_budget=credit_budget,
        keep_partial=False,
        pool=pool,
        io_manager_key=io_manager_key,
        retry_policy=retry_policy,
        backfill_policy=backfill_policy,
        blocking_checks=blocking_checks,
        table_type=table_type,
    ).multi_asset()


def scout_search_assets(
    *,
    name: str,
    request: SearchRequest,
    translator: DagsterScoutTranslator | None = None,
    partitions_def: PartitionsDefinition | None = None,
    timeout_s: float = 3600.0,
    credit_budget: int | None = None,
    keep_partial_on_timeout: bool = False,
    pool: str | None = "scout",
    io_manager_key: str = "scout_io_manager",
    retry_policy: RetryPolicy | None = None,
    backfill_policy: BackfillPolicy | None = None,
    blocking_checks: bool = False,
    table_type: TableType | None = None,
) -> Callable[[Callable[..., Any]], AssetsDefinition]:
    """A deep-search run as ``<name>_results``, ``_sources``, ``_findings`` and ``_report``.

    The body calls ``yield from scout.run_search(context, request)``.
    ``keep_partial_on_timeout``: when the deadline or the credit budget stops
    the run, keep what it gathered (marked ``scout/partial``) instead of
    failing. The other arguments are those of :func:`scout_findall_assets`.
    """
    return declare(
        "search",
        name=name,
        request=request,
        translator=translator,
        partitions_def=partitions_def,
        timeout_s=timeout_s,
        credit_budget=credit_budget,
        keep_partial=keep_partial_on_timeout,
        pool=pool,
        io_manager_key=io_manager_key,
        retry_policy=retry_policy,
        backfill_policy=backfill_policy,
        blocking_checks=blocking_checks,
        table_type=table_type,
    ).multi_asset()
