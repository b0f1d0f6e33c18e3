"""Asset factories: a FindAll or deep-search run as a multi-asset of Parquet tables.

``build_findall_assets`` makes ``<name>_entities`` and ``<name>_citations``;
``build_search_assets`` makes ``<name>_results``, ``<name>_sources``,
``<name>_findings`` and ``<name>_report``. Each materialization creates one
remote run (or adopts the one an earlier attempt started), follows it with a
deadline, cancels it on timeout or termination, and yields the tables with the
run's credits and facts as metadata. Everything is checked when the factory is
called, so a bad configuration fails at load time, before any API call.
"""

# Dagster reads the context annotation at definition time, so annotations here
# must stay real objects (no `from __future__ import annotations`).

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    Failure,
    MetadataValue,
    Output,
    PartitionsDefinition,
    RetryPolicy,
    multi_asset,
)

from .._errors import RunFailed, ScoutError
from .._follower import FollowResult, RunFollower, RunProgress
from .._models import FindAllRun, SearchRun
from .._requests import FindAllRequest, SearchRequest
from .._tables import (
    CITATIONS_SCHEMA,
    FINDINGS_SCHEMA,
    RESULTS_SCHEMA,
    SOURCES_SCHEMA,
    Provenance,
    entities_schema,
    entity_columns,
    findall_tables,
    search_tables,
)
from ._metadata import column_schema, run_metadata, table_metadata
from ._resource import ScoutResource

__all__ = ["build_findall_assets", "build_search_assets"]

#: Bumped when the tables' layout changes, so code versions change with it.
TABLES_VERSION = "1"
#: Characters of the report shown in the UI (the whole report is in report.md).
REPORT_PREVIEW_CHARS = 20_000
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclasses.dataclass(frozen=True)
class _AssetOptions:
    """What both factories share, validated once."""

    name: str
    key_prefix: tuple[str, ...]
    group_name: str
    description: str | None
    partitions_def: PartitionsDefinition | None
    pool: str | None
    resource_key: str
    io_manager_key: str
    timeout_s: float
    credit_budget: int | None
    owners: tuple[str, ...]
    tags: Mapping[str, str]
    retry_policy: RetryPolicy | None
    backfill_policy: BackfillPolicy | None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(
                f"name must be letters, digits and underscores, starting with a letter, "
                f"got {self.name!r}"
            )
        if isinstance(self.timeout_s, bool) or not self.timeout_s > 0:
            raise ValueError(
                f"timeout_s must be a positive number of seconds, got {self.timeout_s!r}"
            )
        if self.credit_budget is not None and self.credit_budget < 1:
            raise ValueError(f"credit_budget must be at least 1 credit, got {self.credit_budget!r}")

    def key(self, suffix: str) -> AssetKey:
        return AssetKey([*self.key_prefix, f"{self.name}_{suffix}"])

    def spec(
        self, suffix: str, description: str, schema: pa.Schema | None, code_version: str
    ) -> AssetSpec:
        metadata: dict[str, Any] = {}
        if schema is not None:
            metadata["dagster/column_schema"] = column_schema(schema)
        return AssetSpec(
            key=self.key(suffix),
            description=description,
            group_name=self.group_name,
            code_version=code_version,
            kinds={"scout", "parquet"},
            owners=list(self.owners) or None,
            tags=dict(self.tags) or None,
            metadata=metadata,
        ).with_io_manager_key(self.io_manager_key)


def _options(
    name: str,
    *,
    key_prefix: str | Sequence[str] | None,
    group_name: str | None,
    description: str | None,
    partitions_def: PartitionsDefinition | None,
    pool: str | None,
    resource_key: str,
    io_manager_key: str,
    timeout_s: float,
    credit_budget: int | None,
    owners: Sequence[str] | None,
    tags: Mapping[str, str] | None,
    retry_policy: RetryPolicy | None,
    backfill_policy: BackfillPolicy | None,
) -> _AssetOptions:
    prefix: tuple[str, ...] = (
        ()
        if key_prefix is None
        else (key_prefix,)
        if isinstance(key_prefix, str)
        else tuple(key_prefix)
    )
    return _AssetOptions(
        name=name,
        key_prefix=prefix,
        group_name=group_name or "scout",
        description=description,
        partitions_def=partitions_def,
        pool=pool,
        resource_key=resource_key,
        io_manager_key=io_manager_key,
        timeout_s=timeout_s,
        credit_budget=credit_budget,
        owners=tuple(owners or ()),
        tags=dict(tags or {}),
        retry_policy=retry_policy,
        backfill_policy=backfill_policy,
    )


# ---------------------------------------------------------------- shared steps


def _progress_logger(
    context: AssetExecutionContext, kind: str, unit: str
) -> Callable[[RunProgress], None]:
    def report(progress: RunProgress) -> None:
        target = f" of {progress.items_target}" if progress.items_target else ""
        context.log.info(
            f"{kind} run {progress.run_id}: {progress.state.value}, {progress.items}{target} "
            f"{unit}, {progress.credits} credits, {progress.elapsed_s:.1f} s"
        )

    return report


def _on_started(
    context: AssetExecutionContext, options: _AssetOptions, kind: str
) -> Callable[[Any, bool], None]:
    def record(run: FindAllRun | SearchRun, adopted: bool) -> None:
        verb = "adopted" if adopted else "started"
        context.log.info(f"{verb} {kind} run {run.run_id} for {options.name}")
        # Visible in the UI at once, and to a later attempt of this run.
        context.instance.add_run_tags(context.run.run_id, {f"scout/run/{options.name}": run.run_id})

    return record


def _failure(exc: ScoutError) -> Failure:
    metadata: dict[str, Any] = {}
    if isinstance(exc, RunFailed):
        metadata = {
            "scout/run_id": MetadataValue.text(exc.run_id),
            "scout/final_state": MetadataValue.text(exc.final_state),
            "scout/credits": MetadataValue.int(exc.credits or 0),
        }
        if exc.server_error:
            metadata["scout/server_error"] = MetadataValue.text(exc.server_error)
    return Failure(description=str(exc), metadata=metadata)


def _follower(
    context: AssetExecutionContext,
    options: _AssetOptions,
    client: Any,
    *,
    kind: str,
    unit: str,
    keep_partial: bool,
) -> RunFollower:
    return RunFollower(
        client,
        deadline_s=options.timeout_s,
        credit_budget=options.credit_budget,
        keep_partial=keep_partial,
        on_progress=_progress_logger(context, kind, unit),
    )


def _partition_key(context: AssetExecutionContext) -> str | None:
    return context.partition_key if context.has_partition_key else None


def _fetched_at(run: FindAllRun | SearchRun) -> dt.datetime:
    return run.completed_at or dt.datetime.now(dt.UTC)


def _unique_check(
    options: _AssetOptions, suffix: str, table: pa.Table, id_column: str, url_column: str
) -> Iterator[AssetCheckResult]:
    key = options.key(suffix)
    ids = table.column(id_column)
    duplicates = table.num_rows - pc.count_distinct(ids).as_py()
    missing_url = pc.sum(pc.invert(pc.is_valid(table.column(url_column)))).as_py() or 0
    yield AssetCheckResult(
        asset_key=key,
        check_name="not_empty",
        passed=table.num_rows > 0,
        metadata={"rows": MetadataValue.int(table.num_rows)},
    )
    yield AssetCheckResult(
        asset_key=key,
        check_name=f"unique_{id_column}",
        passed=duplicates == 0,
        metadata={"duplicates": MetadataValue.int(duplicates)},
    )
    yield AssetCheckResult(
        asset_key=key,
        check_name="has_source_url",
        passed=missing_url == 0,
        metadata={"rows_without_source_url": MetadataValue.int(missing_url)},
    )


def _check_specs(options: _AssetOptions, suffix: str, id_column: str) -> list[AssetCheckSpec]:
    key = options.key(suffix)
    return [
        AssetCheckSpec("not_empty", asset=key, description="The run returned at least one row."),
        AssetCheckSpec(
            f"unique_{id_column}", asset=key, description=f"No two rows share a {id_column}."
        ),
        AssetCheckSpec("has_source_url", asset=key, description="Every row names its source URL."),
    ]


def _selected_checks(
    context: AssetExecutionContext, results: Iterator[AssetCheckResult]
) -> Iterator[AssetCheckResult]:
    selected = {(k.asset_key, k.name) for k in context.selected_asset_check_keys}
    for result in results:
        if (result.asset_key, result.check_name) in selected:
            yield result


# ---------------------------------------------------------------- FindAll


def build_findall_assets(
    name: str,
    query: str,
    *,
    fields: Sequence[str] | None = None,
    output_schema: Mapping[str, Any] | None = None,
    limit: int | None = None,
    generator: str | None = None,
    timeout_s: float = 3600.0,
    credit_budget: int | None = None,
    partitions_def: PartitionsDefinition | None = None,
    key_prefix: str | Sequence[str] | None = None,
    group_name: str | None = None,
    description: str | None = None,
    owners: Sequence[str] | None = None,
    tags: Mapping[str, str] | None = None,
    pool: str | None = "scout",
    resource_key: str = "scout",
    io_manager_key: str = "scout_io_manager",
    retry_policy: RetryPolicy | None = None,
    backfill_policy: BackfillPolicy | None = None,
) -> AssetsDefinition:
    """A FindAll run as two tables: ``<name>_entities`` and ``<name>_citations``.

    Args:
        name: base name of the assets (letters, digits, underscores).
        query: what to enumerate, e.g. ``"S-1 stage AI infrastructure companies"``.
        fields: entity attributes to return (text columns), or
        output_schema: a JSON Schema for entity objects (typed columns).
        limit: most entities to match (at least 1); the server's default if None.
        generator: ``"base"``, ``"core"`` or ``"pro"``.
        timeout_s: seconds to wait before the remote run is cancelled and the
            materialization fails.
        credit_budget: cancel the run and fail once it has cost more credits.
        pool: Dagster concurrency pool; set its limit to stay within the API's
            rate limits (``dagster instance concurrency set scout 4``).
        resource_key, io_manager_key: where the ScoutResource and the IO manager are bound.
    """
    options = _options(
        name,
        key_prefix=key_prefix,
        group_name=group_name,
        description=description,
        partitions_def=partitions_def,
        pool=pool,
        resource_key=resource_key,
        io_manager_key=io_manager_key,
        timeout_s=timeout_s,
        credit_budget=credit_budget,
        owners=owners,
        tags=tags,
        retry_policy=retry_policy,
        backfill_policy=backfill_policy,
    )
    request = FindAllRequest(
        query=query,
        fields=tuple(fields) if fields is not None else None,
        output_schema=output_schema,
        limit=limit,
        generator=generator,  # type: ignore[arg-type]
    )
    columns = entity_columns(request)
    code_version = f"{TABLES_VERSION}-{request.fingerprint}"
    about = description or f"Entities matching: {query}"
    specs = [
        options.spec(
            "entities",
            f"{about}\n\nOne row per matched entity (Scout FindAll).",
            entities_schema(columns),
            code_version,
        ),
        options.spec(
            "citations",
            f"Citations behind each entity field of {options.name}_entities: "
            "one row per entity, field and cited page, with excerpts.",
            CITATIONS_SCHEMA,
            code_version,
        ),
    ]

    @multi_asset(
        name=f"{options.name}_findall",
        specs=specs,
        check_specs=_check_specs(options, "entities", "entity_id"),
        can_subset=True,
        partitions_def=options.partitions_def,
        pool=options.pool,
        required_resource_keys={options.resource_key},
        retry_policy=options.retry_policy,
        backfill_policy=options.backfill_policy,
    )
    def _findall(context: AssetExecutionContext) -> Iterator[Output[Any] | AssetCheckResult]:
        resource: ScoutResource = getattr(context.resources, options.resource_key)
        client = resource.get_client()
        follower = _follower(
            context, options, client, kind="FindAll", unit="entities", keep_partial=False
        )
        try:
            result: FollowResult[FindAllRun] = follower.run_findall(
                request, on_started=_on_started(context, options, "FindAll")
            )
            final, raw = client.get_findall_run_with_raw(result.run.findall_id)
        except ScoutError as exc:
            raise _failure(exc) from exc
        provenance = Provenance(
            run_id=final.findall_id,
            query=request.query,
            fetched_at=_fetched_at(final),
            partition_key=_partition_key(context),
        )
        tables = findall_tables(raw, columns, provenance)
        context.log.info(
            f"FindAll run {final.findall_id} completed: {tables.entities.num_rows} entities, "
            f"{tables.citations.num_rows} citations, {final.credits} credits"
        )
        facts = run_metadata(result, final)
        outputs = {"entities": tables.entities, "citations": tables.citations}
        for suffix, table in outputs.items():
            if options.key(suffix) in context.selected_asset_keys:
                yield Output(
                    table,
                    options.key(suffix).to_python_identifier(),
                    metadata={**facts, **table_metadata(table)},
                )
        yield from _selected_checks(
            context, _unique_check(options, "entities", tables.entities, "entity_id", "source_url")
        )

    return _findall


# ---------------------------------------------------------------- search


def build_search_assets(
    name: str,
    queries: Sequence[str],
    *,
    objective: str | None = None,
    limit: int | None = None,
    country: str | None = None,
    language: str | None = None,
    include_domains: Sequence[str] | None = None,
    exclude_domains: Sequence[str] | None = None,
    timeout_s: float = 3600.0,
    keep_partial_on_timeout: bool = False,
    credit_budget: int | None = None,
    partitions_def: PartitionsDefinition | None = None,
    key_prefix: str | Sequence[str] | None = None,
    group_name: str | None = None,
    description: str | None = None,
    owners: Sequence[str] | None = None,
    tags: Mapping[str, str] | None = None,
    pool: str | None = "scout",
    resource_key: str = "scout",
    io_manager_key: str = "scout_io_manager",
    retry_policy: RetryPolicy | None = None,
    backfill_policy: BackfillPolicy | None = None,
) -> AssetsDefinition:
    """A deep-search run as ``<name>_results``, ``_sources``, ``_findings`` and ``_report``.

    Args:
        queries: the research queries (one credit each).
        objective: the research question the report answers.
        limit, country, language, include_domains, exclude_domains: as the API takes them.
        keep_partial_on_timeout: when the deadline or the credit budget stops
            the run, keep what it gathered (marked ``scout/partial``) instead
            of failing.

    The other arguments are those of :func:`build_findall_assets`.
    """
    options = _options(
        name,
        key_prefix=key_prefix,
        group_name=group_name,
        description=description,
        partitions_def=partitions_def,
        pool=pool,
        resource_key=resource_key,
        io_manager_key=io_manager_key,
        timeout_s=timeout_s,
        credit_budget=credit_budget,
        owners=owners,
        tags=tags,
        retry_policy=retry_policy,
        backfill_policy=backfill_policy,
    )
    request = SearchRequest(
        queries=tuple(queries),
        objective=objective,
        limit=limit,
        country=country,
        language=language,
        include_domains=tuple(include_domains) if include_domains else None,
        exclude_domains=tuple(exclude_domains) if exclude_domains else None,
    )
    code_version = f"{TABLES_VERSION}-{request.fingerprint}"
    about = description or f"Deep search: {objective or '; '.join(request.queries)}"
    specs = [
        options.spec(
            "results",
            f"{about}\n\nMerged, de-duplicated results, ranked.",
            RESULTS_SCHEMA,
            code_version,
        ),
        options.spec(
            "sources",
            f"Numbered sources the report of {options.name} cites.",
            SOURCES_SCHEMA,
            code_version,
        ),
        options.spec(
            "findings",
            f"Per-subquery findings of {options.name}, with citations.",
            FINDINGS_SCHEMA,
            code_version,
        ),
        options.spec(
            "report",
            f"Markdown research report of {options.name}, with [N] citations.",
            None,
            code_version,
        ),
    ]

    @multi_asset(
        name=f"{options.name}_search",
        specs=specs,
        check_specs=_check_specs(options, "results", "result_id"),
        can_subset=True,
        partitions_def=options.partitions_def,
        pool=options.pool,
        required_resource_keys={options.resource_key},
        retry_policy=options.retry_policy,
        backfill_policy=options.backfill_policy,
    )
    def _search(context: AssetExecutionContext) -> Iterator[Output[Any] | AssetCheckResult]:
        resource: ScoutResource = getattr(context.resources, options.resource_key)
        client = resource.get_client()
        follower = _follower(
            context,
            options,
            client,
            kind="search",
            unit="pages",
            keep_partial=keep_partial_on_timeout,
        )
        try:
            result: FollowResult[SearchRun] = follower.run_search(
                request, on_started=_on_started(context, options, "search")
            )
            final = client.get_search_run(result.run.search_id)
        except ScoutError as exc:
            raise _failure(exc) from exc
        provenance = Provenance(
            run_id=final.search_id,
            query=" | ".join(request.queries),
            fetched_at=_fetched_at(final),
            partition_key=_partition_key(context),
        )
        tables = search_tables(final, provenance)
        state = "partial (stopped by us)" if result.partial else final.state.value
        context.log.info(
            f"search run {final.search_id} {state}: {tables.results.num_rows} results, "
            f"{tables.sources.num_rows} sources, {tables.findings.num_rows} findings, "
            f"{final.credits} credits"
        )
        facts = run_metadata(result, final)
        outputs: dict[str, Any] = {
            "results": tables.results,
            "sources": tables.sources,
            "findings": tables.findings,
        }
        for suffix, table in outputs.items():
            if options.key(suffix) in context.selected_asset_keys:
                yield Output(
                    table,
                    options.key(suffix).to_python_identifier(),
                    metadata={**facts, **table_metadata(table)},
                )
        if options.key("report") in context.selected_asset_keys:
            yield Output(
                tables.report,
                options.key("report").to_python_identifier(),
                metadata={
                    **facts,
                    "report": MetadataValue.md(tables.report[:REPORT_PREVIEW_CHARS]),
                    "report_chars": MetadataValue.int(len(tables.report)),
                },
            )
        yield from _selected_checks(
            context, _unique_check(options, "results", tables.results, "result_id", "source_url")
        )

    return _search
