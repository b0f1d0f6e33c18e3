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
import hashlib
import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetRecordsFilter,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    BetaWarning,
    DagsterRunStatus,
    DataVersion,
    Failure,
    MetadataValue,
    Output,
    PartitionsDefinition,
    RetryPolicy,
    multi_asset,
)

from .._errors import RunFailed, RunTerminated, ScoutError, ScoutRunBodyError
from .._follower import MAX_DEADLINE_S, FollowResult, RunFollower, RunProgress
from .._http import truncate
from .._models import FindAllRun, RunStatus, SearchRun
from .._requests import FindAllRequest, SearchRequest
from .._tables import (
    CITATIONS_SCHEMA,
    FINDINGS_SCHEMA,
    RESULTS_SCHEMA,
    SOURCES_SCHEMA,
    EntityColumn,
    FindAllBody,
    Provenance,
    entities_schema,
    entity_columns,
    read_findall,
    search_tables,
)
from .._termination import TerminationWatch
from ._metadata import column_schema, run_metadata, table_metadata
from ._partitions import (
    QueryTemplate,
    check_templates_use_partition,
    partition_key_of,
    partition_values,
)
from ._resource import ScoutResource

__all__ = ["build_findall_assets", "build_search_assets"]

#: Bumped when the tables' layout changes, so code versions change with it.
TABLES_VERSION = "1"
#: Columns that differ between two runs that found the same rows; left out
#: of the data version so a refresh that changes nothing changes no version.
RUN_SPECIFIC_COLUMNS = ("run_id", "fetched_at", "source_fetched_at")
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
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(
                f"name must be letters, digits and underscores, starting with a letter, "
                f"got {self.name!r}"
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

    def key(self, suffix: str) -> AssetKey:
        return AssetKey([*self.key_prefix, f"{self.name}_{suffix}"])

    def multi_asset(
        self, kind: str, specs: list[AssetSpec], *, checked: tuple[str, str]
    ) -> Callable[[Callable[..., Any]], AssetsDefinition]:
        """The decorator both factories use; ``checked`` is (table suffix, id column)."""
        return multi_asset(
            name=f"{self.name}_{kind}",
            specs=specs,
            check_specs=_check_specs(self, *checked),
            can_subset=True,
            partitions_def=self.partitions_def,
            pool=self.pool,
            required_resource_keys={self.resource_key},
            retry_policy=self.retry_policy,
            backfill_policy=self.backfill_policy,
        )

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
        backfill_policy=_backfill_policy(backfill_policy, partitions_def),
    )


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


# ---------------------------------------------------------------- one execution


def _content_version(table: pa.Table) -> DataVersion:
    """A data version that changes only when the rows do, not when a run re-fetched them."""
    content = table.drop_columns([c for c in RUN_SPECIFIC_COLUMNS if c in table.column_names])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, content.schema) as writer:
        writer.write_table(content)
    return DataVersion(hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()[:24])


class _Execution:
    """One materialization of a Scout multi-asset: the steps both kinds share.

    It renders the request for the partition, derives the idempotency key,
    finds a remote run an earlier attempt started, follows the run, turns
    every Scout error into a ``dagster.Failure`` and yields the outputs.
    """

    def __init__(
        self,
        context: AssetExecutionContext,
        options: _AssetOptions,
        *,
        kind: str,
        unit: str,
        keep_partial: bool,
        suffixes: Sequence[str],
    ) -> None:
        self.context = context
        self.options = options
        self.kind = kind
        self.table_keys = [options.key(suffix) for suffix in suffixes]
        resource: ScoutResource = getattr(context.resources, options.resource_key)
        self.resource = resource
        self.client = resource.get_client()
        try:
            self.partition_key = partition_key_of(context)
            self.values = partition_values(context, self.partition_key)
        except ValueError as exc:
            raise Failure(description=str(exc)) from exc
        self.follower = RunFollower(
            self.client,
            deadline_s=options.timeout_s,
            credit_budget=options.credit_budget,
            keep_partial=keep_partial,
            # A failed wait cancels the remote run, unless a step retry is coming:
            # that retry adopts the run instead of paying for a new one.
            cancel_on_error=not self._retry_pending(),
            # Under Celery or a step-delegating executor no interrupt reaches
            # this step when the run is terminated: it asks the instance.
            terminated=TerminationWatch(self._run_terminated),
            cancel_on_termination=resource.cancel_on_termination,
            on_progress=self._log_progress(unit),
            on_cancelled=self._record_cancel,
        )

    def _run_terminated(self) -> bool:
        record = self.context.instance.get_run_record_by_id(self.context.run.run_id)
        return record is not None and record.dagster_run.status in _TERMINATING

    def _retry_pending(self) -> bool:
        policy = self.context.op_def.retry_policy
        return policy is not None and self.context.retry_number < policy.max_retries

    @property
    def run_tag(self) -> str:
        return f"scout/run/{self.options.name}"

    @property
    def cancelled_tag(self) -> str:
        return f"scout/cancelled/{self.options.name}"

    def _record_cancel(self, run_id: str) -> None:
        """Remembered on the Dagster run: a retry or re-execution must not adopt
        a run we cancelled, which looks alive until its cancel takes effect."""
        run = self.context.instance.get_run_by_id(self.context.run.run_id)
        earlier = run.tags.get(self.cancelled_tag, "").split(",") if run else []
        kept = [i for i in earlier if i and i != run_id][-(_CANCELLED_KEPT - 1) :]
        ids = [*kept, run_id]
        self.context.instance.add_run_tags(
            self.context.run.run_id, {self.cancelled_tag: ",".join(ids)}
        )

    def dead_runs(self) -> set[str]:
        """Remote runs this Dagster run or its parents cancelled."""
        dead: set[str] = set()
        for run in self._run_and_parents():
            dead.update(i for i in run.tags.get(self.cancelled_tag, "").split(",") if i)
        return dead

    def _run_and_parents(self) -> Iterator[Any]:
        instance = self.context.instance
        run_id: str | None = self.context.run.run_id
        while run_id:
            run = instance.get_run_by_id(run_id)
            if run is None:
                return
            yield run
            run_id = run.parent_run_id

    def idempotency_key(self, fingerprint: str) -> str:
        """The same for every attempt at this asset, partition and request until
        one of them is materialized: step retries, re-executions, and two
        Dagster runs of the same partition at once (on any host: it is read
        from the instance) all ask the API for one remote run, which it
        creates once. A refresh after a materialization gets a new key."""
        parts = [self.options.name, self.partition_key or "", fingerprint, self._epoch()]
        return "scout-dagster-" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]

    def _epoch(self) -> str:
        """The latest materialization of this multi-asset's partition by another
        Dagster run (a run's own, made before a later output failed, would
        change the key under its own retry)."""
        instance = self.context.instance
        if instance.is_ephemeral:
            # No other process can see this instance, nor its materializations:
            # every run of it is a refresh of its own (``materialize()`` in a script).
            run = self.context.run
            return f"run:{run.root_run_id or run.run_id}"
        partitions = [str(self.partition_key)] if self.partition_key is not None else None
        latest = 0
        # Every table of the multi-asset, selected or not: a run of a subset and
        # a run of the whole must agree.
        for key in self.table_keys:
            records = instance.fetch_materializations(
                AssetRecordsFilter(asset_key=key, asset_partitions=partitions), limit=4
            ).records
            for record in records:
                if record.run_id != self.context.run.run_id:
                    latest = max(latest, record.storage_id)
                    break
        return str(latest)

    def run_to_adopt(self) -> str | None:
        """The remote run an earlier attempt recorded: this run's tag (a step
        retry) or a parent's (a re-execution)."""
        for run in self._run_and_parents():
            if self.run_tag in run.tags:
                return str(run.tags[self.run_tag])
        return None

    def on_started(self, run: FindAllRun | SearchRun, adopted: bool) -> None:
        verb = "adopted" if adopted else "started"
        where = f" for partition {self.partition_key}" if self.partition_key else ""
        self.context.log.info(f"{verb} {self.kind} run {run.run_id}{where}")
        # Recorded at once: visible in the UI, and found by a later attempt.
        self.context.instance.add_run_tags(self.context.run.run_id, {self.run_tag: run.run_id})

    def _log_progress(self, unit: str) -> Callable[[RunProgress], None]:
        def report(progress: RunProgress) -> None:
            target = f" of {progress.items_target}" if progress.items_target else ""
            self.context.log.info(
                f"{self.kind} run {progress.run_id}: {progress.state.value}, "
                f"{progress.items}{target} {unit}, {progress.credits} credits, "
                f"{progress.elapsed_s:.1f} s"
            )

        return report

    def warn(self, metadata: dict[str, Any], message: str) -> None:
        """A fact about the run that does not stop the load, but is worth a look."""
        self.context.log.warning(message)
        previous = metadata.get("scout/warnings")
        text = f"{previous.value}\n{message}" if previous is not None else message
        metadata["scout/warnings"] = MetadataValue.text(text)

    def check_credits(
        self, metadata: dict[str, Any], result: FollowResult[Any], final: Any
    ) -> None:
        if final.credits < result.credits_seen:
            metadata["scout/credits_max_seen"] = MetadataValue.int(result.credits_seen)
            self.warn(
                metadata,
                f"run {final.run_id}: its final read says {final.credits} credits, lower than "
                f"the {result.credits_seen} reported while it ran; scout/credits is the final "
                "figure",
            )

    def provenance(self, run_id: str, query: str, run: FindAllRun | SearchRun) -> Provenance:
        return Provenance(
            run_id=run_id,
            query=query,
            fetched_at=run.completed_at or dt.datetime.now(dt.UTC),
            partition_key=self.partition_key,
        )

    def outputs(
        self, tables: Mapping[str, pa.Table | str], facts: Mapping[str, Any]
    ) -> Iterator[Output[Any]]:
        if self.resource.uses_emulator:
            facts = {
                **facts,
                "scout/synthetic": MetadataValue.text(
                    "SYNTHETIC data from the local Scout emulator, not the Scout API"
                ),
            }
        for suffix, value in tables.items():
            key = self.options.key(suffix)
            if key not in self.context.selected_asset_keys:
                continue
            if isinstance(value, str):
                metadata = {
                    **facts,
                    "report": MetadataValue.md(value[:REPORT_PREVIEW_CHARS]),
                    "report_chars": MetadataValue.int(len(value)),
                }
                version = DataVersion(hashlib.sha256(value.encode()).hexdigest()[:24])
            else:
                metadata = {**facts, **table_metadata(value)}
                version = _content_version(value)
            with warnings.catch_warnings():
                # data_version is marked beta in Dagster 1.13; it is what makes
                # a refresh that changed nothing leave downstream assets fresh.
                warnings.simplefilter("ignore", BetaWarning)
                yield Output(
                    value, key.to_python_identifier(), metadata=metadata, data_version=version
                )

    def checks(self, suffix: str, table: pa.Table, id_column: str) -> Iterator[AssetCheckResult]:
        key = self.options.key(suffix)
        selected = {(k.asset_key, k.name) for k in self.context.selected_asset_check_keys}
        duplicates = table.num_rows - pc.count_distinct(table.column(id_column)).as_py()
        missing_url = table.column("source_url").null_count
        results = [
            AssetCheckResult(
                asset_key=key,
                check_name="not_empty",
                passed=table.num_rows > 0,
                metadata={"rows": MetadataValue.int(table.num_rows)},
            ),
            AssetCheckResult(
                asset_key=key,
                check_name=f"unique_{id_column}",
                passed=duplicates == 0,
                metadata={"duplicates": MetadataValue.int(duplicates)},
            ),
            AssetCheckResult(
                asset_key=key,
                check_name="has_source_url",
                passed=missing_url == 0,
                metadata={"rows_without_source_url": MetadataValue.int(missing_url)},
            ),
        ]
        yield from (r for r in results if (r.asset_key, r.check_name) in selected)


def _read_run_body(raw: bytes, run_id: str, columns: Sequence[EntityColumn]) -> FindAllBody:
    """The run's body, which must be the run asked for (else a ValueError: read again)."""
    try:
        body = read_findall(raw, columns)
    except ScoutRunBodyError as exc:
        raise ScoutRunBodyError(exc.detail, run_id=run_id) from None
    if body.facts.run_id != run_id:
        raise ValueError(f"the body is run {body.facts.run_id}, not {run_id}")
    return body


def _with_body_status(run: FindAllRun, body: FindAllBody) -> FindAllRun:
    """``run`` (as the events left it) with the figures and state of the body
    the tables come from."""
    facts = body.facts
    status = RunStatus(
        state=facts.state,
        termination_reason=facts.termination_reason,
        raw={"status": facts.state.value, "termination_reason": facts.termination_reason},
    )
    return run.model_copy(
        update={
            "status": status,
            "credits": facts.credits,
            "count": facts.count,
            "completed_at": facts.completed_at or run.completed_at,
        }
    )


#: A Dagster run someone asked to terminate is CANCELING until its steps end.
_TERMINATING = frozenset({DagsterRunStatus.CANCELING, DagsterRunStatus.CANCELED})
#: Runs a Dagster run remembers having cancelled (a tag value stays short).
_CANCELLED_KEPT = 5


def _failure(exc: Exception) -> Failure:
    metadata: dict[str, Any] = {}
    if isinstance(exc, RunFailed):
        metadata = {
            "scout/run_id": MetadataValue.text(exc.run_id),
            "scout/final_state": MetadataValue.text(exc.final_state),
            "scout/credits": MetadataValue.int(exc.credits or 0),
        }
        if exc.server_error:
            metadata["scout/server_error"] = MetadataValue.text(exc.server_error)
    # Every server text in it is redacted already; cut it, so that a server's
    # megabytes of detail do not become megabytes of event log.
    # A run someone terminated is not retried: a RetryPolicy is for failures.
    return Failure(
        description=truncate(str(exc), 4000),
        metadata=metadata,
        allow_retries=not isinstance(exc, RunTerminated),
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
        # As given: the request refuses a bare string rather than splitting it.
        fields=fields,  # type: ignore[arg-type]
        output_schema=output_schema,
        limit=limit,
        generator=generator,  # type: ignore[arg-type]
    )
    query_template = QueryTemplate(query, "query", options.partitions_def)
    check_templates_use_partition([query_template], options.partitions_def)
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

    @options.multi_asset("findall", specs, checked=("entities", "entity_id"))
    def _findall(context: AssetExecutionContext) -> Iterator[Output[Any] | AssetCheckResult]:
        execution = _Execution(
            context,
            options,
            kind="FindAll",
            unit="entities",
            keep_partial=False,
            suffixes=("entities", "citations"),
        )
        try:
            rendered = dataclasses.replace(request, query=query_template.render(execution.values))
            result: FollowResult[FindAllRun] = execution.follower.run_findall(
                rendered,
                idempotency_key=execution.idempotency_key(rendered.fingerprint),
                adopt_run_id=execution.run_to_adopt(),
                dead_runs=execution.dead_runs(),
                on_started=execution.on_started,
            )
            # The body is read from its bytes by pyarrow, facts and tables in
            # one parse: a run of a million entities does not become a million
            # Python dicts here (unless it does not fit the declared types).
            # The bytes themselves are not kept. Its own state must say
            # completed, whatever the events said.
            run_id = result.run.findall_id
            body = execution.follower.read_final(
                result,
                lambda: execution.client.get_findall_run_body(
                    run_id, check=lambda raw: _read_run_body(raw, run_id, columns)
                )[0],
            )
        except (ScoutError, ValueError) as exc:
            raise _failure(exc) from exc
        final = _with_body_status(result.run, body)
        tables = body.tables(execution.provenance(final.findall_id, rendered.query, final))
        context.log.info(
            f"FindAll run {final.findall_id} completed: {tables.entities.num_rows} entities, "
            f"{tables.citations.num_rows} citations, {final.credits} credits"
        )
        metadata = run_metadata(result, final)
        metadata["scout/entity_count"] = MetadataValue.int(tables.entities.num_rows)
        if body.facts.count != tables.entities.num_rows:
            metadata["scout/count_reported"] = MetadataValue.int(body.facts.count)
            execution.warn(
                metadata,
                f"FindAll run {final.findall_id} says count={body.facts.count} but holds "
                f"{tables.entities.num_rows} entities; the table has the entities",
            )
        execution.check_credits(metadata, result, final)
        yield from execution.outputs(
            {"entities": tables.entities, "citations": tables.citations}, metadata
        )
        yield from execution.checks("entities", tables.entities, "entity_id")

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
    if not isinstance(keep_partial_on_timeout, bool):
        raise ValueError(
            f"keep_partial_on_timeout must be True or False, got {keep_partial_on_timeout!r}"
        )
    request = SearchRequest(
        # A bare string is one query, not a list of letters: refuse it by name
        # (and the same for the domains, which the request checks as given).
        queries=queries if isinstance(queries, str) else tuple(queries),  # type: ignore[arg-type]
        objective=objective,
        limit=limit,
        country=country,
        language=language,
        include_domains=include_domains or None,  # type: ignore[arg-type]
        exclude_domains=exclude_domains or None,  # type: ignore[arg-type]
    )
    query_templates = [
        QueryTemplate(q, f"queries[{i}]", options.partitions_def)
        for i, q in enumerate(request.queries)
    ]
    objective_template = (
        QueryTemplate(objective, "objective", options.partitions_def) if objective else None
    )
    check_templates_use_partition(
        [*query_templates, *([objective_template] if objective_template else [])],
        options.partitions_def,
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

    @options.multi_asset("search", specs, checked=("results", "result_id"))
    def _search(context: AssetExecutionContext) -> Iterator[Output[Any] | AssetCheckResult]:
        execution = _Execution(
            context,
            options,
            kind="search",
            unit="pages",
            keep_partial=keep_partial_on_timeout,
            suffixes=("results", "sources", "findings", "report"),
        )
        try:
            rendered = dataclasses.replace(
                request,
                queries=tuple(t.render(execution.values) for t in query_templates),
                objective=objective_template.render(execution.values)
                if objective_template
                else None,
            )
            result: FollowResult[SearchRun] = execution.follower.run_search(
                rendered,
                idempotency_key=execution.idempotency_key(rendered.fingerprint),
                adopt_run_id=execution.run_to_adopt(),
                dead_runs=execution.dead_runs(),
                on_started=execution.on_started,
            )
            search_id = result.run.search_id
            # Its own state must say completed (or cancelled, for the partial
            # result we stopped and kept), whatever the events said.
            final = execution.follower.read_final(
                result, lambda: execution.client.get_search_run(search_id)
            )
        except (ScoutError, ValueError) as exc:
            raise _failure(exc) from exc
        tables = search_tables(
            final, execution.provenance(final.search_id, " | ".join(rendered.queries), final)
        )
        state = "partial (stopped by us)" if result.partial else final.state.value
        context.log.info(
            f"search run {final.search_id} {state}: {tables.results.num_rows} results, "
            f"{tables.sources.num_rows} sources, {tables.findings.num_rows} findings, "
            f"{final.credits} credits"
        )
        metadata = run_metadata(result, final)
        execution.check_credits(metadata, result, final)
        yield from execution.outputs(
            {
                "results": tables.results,
                "sources": tables.sources,
                "findings": tables.findings,
                "report": tables.report,
            },
            metadata,
        )
        yield from execution.checks("results", tables.results, "result_id")

    return _search
