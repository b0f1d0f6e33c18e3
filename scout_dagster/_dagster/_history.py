"""History and the current state, as assets: the runs ledger and the current entities.

Every materialization of a Scout table replaces its table or partition, and
what a remote run cost lives only in Dagster's metadata. Two factories make
both into tables:

``build_scout_runs_ledger(*scout_assets)``
    One unpartitioned table (``scout_runs``), one row per remote Scout run of
    the given multi-assets, rebuilt from the Dagster instance's event log at
    each materialization, so it replaces itself idempotently: materializing
    it twice with nothing new in between gives the same rows. It reads

    - the materializations of each multi-asset's primary table (``entities``
      for FindAll, ``results`` for search: the one that carries
      ``scout/credits``, once per remote run), every partition, paged with
      ``instance.fetch_materializations``;
    - the remote runs that ended without tables (a deadline, a credit budget,
      a termination, a run failed or cancelled on the server): the execution
      records each as an observation of the primary table
      (``scout/outcome: failed`` with ``scout/run_id``, ``scout/final_state``
      and ``scout/credits``) before it fails the step, paged with
      ``instance.fetch_observations``. An observation survives a step retry
      (``STEP_UP_FOR_RETRY`` keeps no metadata of the failed attempt), and
      Dagster 1.13's open-source storages keep no asset failure events;
    - the materializations and failure observations of the enrich and
      extend assets among them (``build_findall_enrich_assets``,
      ``build_findall_extend_assets``), whose ``scout/credits`` is what each
      phase added to its run: added to the run's row, once per phase (its
      idempotency key, ``scout/phase_key``), from its materialization with the
      most credits, else its latest failure. Their upstream FindAll assets
      must be given too.

    **One row per remote run.** A remote run recorded more than once (two
    Dagster runs of one partition at once, sharing one remote run; a
    re-execution that adopted the run its parent had already materialized,
    or had failed on while it still ran, as a termination with
    ``cancel_on_termination`` off leaves it) is one row: its earliest
    materialization wins over any failure (a materialization's figures are
    final: the run had ended and its body was read; the earliest never
    changes as later copies arrive); a run never materialized takes its
    latest failure (the most recent credits seen).
    ``times_recorded`` says how many materializations and failures of the
    assets that create runs named it (0: a run started and given up, say one
    that had ended at its first look and was replaced; its credits were never
    read, they are null).

    **What it cannot see.** A remote run whose step failed with an error
    other than ``RunFailed`` (the API unreachable after the run was
    created): its credits were never read.

    A team's monthly spend is one ``GROUP BY`` (DuckDB; ``team`` is the
    primary table's first ``team:`` owner, without the prefix)::

        SELECT team, date_trunc('month', recorded_at) AS month,
               sum(credits) AS credits, count(*) AS runs
        FROM scout_runs
        GROUP BY team, month
        ORDER BY month, team

``build_current_entities(findall_assets)``
    An unpartitioned ``<name>_entities_current`` that takes every partition
    of ``<name>_entities`` as its input and keeps one row per
    ``entity_id``: the values of its latest sighting (by ``fetched_at``,
    ties by ``run_id``), ``first_seen_at``, ``last_seen_at``, ``runs_seen``,
    ``partitions_seen``, ``last_run_id`` and ``last_partition_key``. Pure
    pyarrow (sort, group-by, aggregate); the input may be what any IO
    manager returns (a ``pyarrow.Table``, a pandas or polars DataFrame).

    It is recomputed from the partitions that exist: a partition that was
    re-materialized holds only its latest run, so the earlier run of it no
    longer counts (in ``first_seen_at``, ``runs_seen``). Keeping them would
    need the asset to read its own previous value, and Dagster refuses an
    asset that depends on itself unless it is time-partitioned (each
    partition reading earlier ones), while this one is unpartitioned; the
    history of runs is the ledger's.
"""

# Dagster reads the context annotation at definition time, so annotations here
# must stay real objects (no `from __future__ import annotations`).

import dataclasses
import datetime as dt
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc
from dagster import (
    AllPartitionMapping,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetRecordsFilter,
    AssetsDefinition,
    AssetSpec,
    AutomationCondition,
    BetaWarning,
    DagsterInstance,
    DataVersion,
    MetadataValue,
    Output,
    TableColumn,
    TableSchema,
    asset,
)

from .._text import truncate
from ..tables.provenance import PROVENANCE_COLUMNS
from ..tables.versions import content_version
from ._metadata import column_schema, table_metadata
from ._output_types import TABLE_TYPES, TableType, as_output, table_type_for
from ._phase_records import PhaseMetadataSet
from ._translator import PRIMARY_TABLE, ScoutMetadataSet

__all__ = [
    "LEDGER_SCHEMA",
    "build_current_entities",
    "build_scout_runs_ledger",
    "current_entities",
    "runs_ledger",
]

#: Records asked of the instance at a time.
PAGE = 1000
#: Characters of a failure's description kept in the ledger.
ERROR_CHARS = 1000
_TIMESTAMP = pa.timestamp("us", tz="UTC")


def _field(name: str, type_: pa.DataType, description: str) -> pa.Field:
    return pa.field(name, type_, metadata={"description": description})


LEDGER_SCHEMA = pa.schema(
    [
        _field("run_id", pa.string(), "The remote Scout run (findall_id or search_id)."),
        _field("kind", pa.string(), "findall or search."),
        _field("name", pa.string(), "The base name of the Scout assets (ai_infra)."),
        _field("asset", pa.string(), "The primary table's asset key, which carries the credits."),
        _field("team", pa.string(), "The primary table's first team: owner, without team:."),
        _field("group_name", pa.string(), "The primary table's asset group."),
        _field("partition_key", pa.string(), "The partition the run was for; null if none."),
        _field("outcome", pa.string(), "materialized, or failed (paid, nothing written)."),
        _field("state", pa.string(), "The remote run's final state (completed, cancelled, ...)."),
        _field("credits", pa.int64(), "Credits the run cost, as last read."),
        _field("created_at", _TIMESTAMP, "When the remote run was created (the API's)."),
        _field("completed_at", _TIMESTAMP, "When the remote run ended (the API's)."),
        _field("wait_s", pa.float64(), "Seconds the materialization waited on the run."),
        _field("adopted", pa.bool_(), "Whether an earlier attempt had started the run."),
        _field("partial", pa.bool_(), "Whether a stopped run's partial result was kept."),
        _field("termination_reason", pa.string(), "Why the run ended, as the API or we said."),
        _field("error", pa.string(), "The failure's description (failed runs only)."),
        _field("dagster_run_id", pa.string(), "The Dagster run of the winning record."),
        _field("recorded_at", _TIMESTAMP, "When Dagster recorded the winning record."),
        _field("times_recorded", pa.int64(), "Materializations and failures naming the run."),
    ]
)


@dataclasses.dataclass(frozen=True)
class _Source:
    """A Scout multi-asset as the ledger reads it."""

    kind: str
    name: str
    primary: AssetKey
    op_name: str
    team: str | None
    group_name: str | None
    #: An enrich or extend of the runs of ``upstream`` (its primary key, as a
    #: user string); None for the assets that create runs.
    phase: str | None = None
    upstream: str | None = None

    @classmethod
    def of(cls, assets_def: object) -> "_Source":
        if isinstance(assets_def, AssetsDefinition):
            for spec in assets_def.specs:
                facts = ScoutMetadataSet.extract(spec.metadata)
                if facts.kind in PRIMARY_TABLE and facts.table == PRIMARY_TABLE[facts.kind]:
                    phase = PhaseMetadataSet.extract(spec.metadata)
                    return cls(
                        kind=str(facts.kind),
                        name=str(facts.name),
                        primary=spec.key,
                        op_name=assets_def.node_def.name,
                        team=_team(spec.owners),
                        group_name=spec.group_name,
                        phase=phase.operation,
                        upstream=phase.upstream,
                    )
        raise ValueError(
            "build_scout_runs_ledger takes the assets of @scout_findall_assets, "
            "@scout_search_assets, build_findall_assets, build_search_assets, "
            f"build_findall_enrich_assets or build_findall_extend_assets; got {_shown(assets_def)}"
        )

    @property
    def run_tag(self) -> str:
        return f"scout/run/{self.name}"


def _shown(value: object) -> str:
    if isinstance(value, AssetsDefinition):
        keys = ", ".join(sorted(k.to_user_string() for k in value.keys))
        return f"the asset definition of {keys}"
    return type(value).__name__


def _team(owners: Sequence[str]) -> str | None:
    for owner in owners:
        if owner.startswith("team:"):
            return owner[len("team:") :]
    return None


def _value(metadata: Mapping[str, Any], key: str) -> Any:
    entry = metadata.get(key)
    return getattr(entry, "value", entry)


def _moment(value: Any) -> dt.datetime | None:
    """An ISO timestamp of the metadata, in UTC (a naive one is taken as UTC)."""
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _reason(value: Any) -> str | None:
    """A termination reason; the metadata's "none" (no reason) is null here."""
    return value if isinstance(value, str) and value != "none" else None


def _when(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC)


@dataclasses.dataclass
class _Record:
    """One record that names a remote run: a materialization or a failure."""

    row: dict[str, Any]
    materialized: bool
    order: tuple[float, int]  # (timestamp, storage id): which record is earlier
    rank: int = 2  # a materialization, over a failure (1), over a start (0)
    #: An enrich's or extend's record: the phase (its idempotency key), else None.
    phase_key: str | None = None


def _materializations(instance: DagsterInstance, source: _Source) -> Iterator[_Record]:
    cursor: str | None = None
    while True:
        page = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=source.primary), limit=PAGE, cursor=cursor, ascending=True
        )
        for record in page.records:
            materialization = record.asset_materialization
            if materialization is None:
                continue
            metadata = materialization.metadata
            run_id = _value(metadata, "scout/run_id")
            if not isinstance(run_id, str):
                continue  # not written by a Scout run (reported by hand, say)
            wait_s = _value(metadata, "scout/wait_s")
            row = _row(source, run_id, materialization.partition, record.run_id, record.timestamp)
            row.update(
                outcome="materialized",
                state=_value(metadata, "scout/status"),
                credits=_int(_value(metadata, "scout/credits")),
                created_at=_moment(_value(metadata, "scout/created_at")),
                completed_at=_moment(_value(metadata, "scout/completed_at")),
                wait_s=float(wait_s) if isinstance(wait_s, int | float) else None,
                adopted=_value(metadata, "scout/adopted"),
                partial=_value(metadata, "scout/partial"),
                termination_reason=_reason(_value(metadata, "scout/termination_reason")),
            )
            phase_key = _phase_key(source, metadata)
            yield _Record(row, True, (record.timestamp, record.storage_id), phase_key=phase_key)
        if not page.has_more:
            return
        cursor = page.cursor


def _failures(instance: DagsterInstance, sources: Sequence[_Source]) -> Iterator[_Record]:
    """Remote runs that ended without tables, as the execution observed them on
    the primary table (``scout/outcome: failed``). An observation survives a
    step retry, which keeps no failure metadata of the attempt it replaces."""
    for source in sources:
        cursor: str | None = None
        while True:
            page = instance.fetch_observations(
                AssetRecordsFilter(asset_key=source.primary),
                limit=PAGE,
                cursor=cursor,
                ascending=True,
            )
            for record in page.records:
                observation = record.asset_observation
                if observation is None:
                    continue
                metadata = observation.metadata
                remote = _value(metadata, "scout/run_id")
                outcome = _value(metadata, "scout/outcome")
                if outcome not in ("failed", "started") or not isinstance(remote, str):
                    continue
                row = _row(source, remote, observation.partition, record.run_id, record.timestamp)
                error = _value(metadata, "scout/error")
                row.update(
                    outcome=outcome,
                    state=_value(metadata, "scout/final_state"),
                    credits=_int(_value(metadata, "scout/credits")),
                    partial=False,
                    error=truncate(error, ERROR_CHARS) if isinstance(error, str) else None,
                )
                rank = 1 if outcome == "failed" else 0
                phase_key = _phase_key(source, metadata)
                yield _Record(row, False, (record.timestamp, record.storage_id), rank, phase_key)
            if not page.has_more:
                break
            cursor = page.cursor


def _phase_key(source: _Source, metadata: Mapping[str, Any]) -> str | None:
    """The phase a record of an enrich or extend is of (None for a creating asset's)."""
    if source.phase is None:
        return None
    return str(_value(metadata, "scout/phase_key") or "")


def _row(
    source: _Source, run_id: str, partition: str | None, dagster_run_id: str, timestamp: float
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "kind": source.kind,
        "name": source.name,
        "asset": source.primary.to_user_string(),
        "team": source.team,
        "group_name": source.group_name,
        "partition_key": partition,
        "dagster_run_id": dagster_run_id,
        "recorded_at": _when(timestamp),
    }


def _winner(records: list[_Record]) -> _Record:
    """The earliest materialization, else the latest failure, else the latest
    start (a run started and given up with nothing read of it)."""
    materialized = [r for r in records if r.materialized]
    if materialized:
        return min(materialized, key=lambda r: r.order)
    return max(records, key=lambda r: (r.rank, r.order))


def _phase_credits(records: list[_Record]) -> dict[str, tuple[int, _Record]]:
    """Per remote run, the credits its enrichments and extensions added, and
    the latest of their records. One phase (one idempotency key) counts once:
    its materialization with the most credits (two Dagster runs sharing one
    phase each count from their own look before it, the earliest look is the
    closest; a later one that found it applied adds 0), else its latest failure."""
    by_phase: dict[tuple[str, str], list[_Record]] = {}
    for record in records:
        by_phase.setdefault((record.row["run_id"], str(record.phase_key)), []).append(record)
    added: dict[str, tuple[int, _Record]] = {}
    for (run_id, _), same in by_phase.items():
        materialized = [r for r in same if r.materialized]
        if materialized:
            credits = max(r.row.get("credits") or 0 for r in materialized)
        else:
            credits = max(same, key=lambda r: r.order).row.get("credits") or 0
        latest = max(same, key=lambda r: r.order)
        total, last = added.get(run_id, (0, latest))
        added[run_id] = (total + credits, max(last, latest, key=lambda r: r.order))
    return added


def runs_ledger(instance: DagsterInstance, scout_assets: Sequence[AssetsDefinition]) -> pa.Table:
    """The ledger's rows for ``scout_assets`` as the instance's event log has them now.

    The credits of a run's enrichments and extensions are added to its row."""
    sources = list({s.primary: s for s in (_Source.of(a) for a in scout_assets)}.values())
    by_run: dict[str, list[_Record]] = {}
    records = [r for source in sources for r in _materializations(instance, source)]
    records.extend(_failures(instance, sources))
    phases = _phase_credits([r for r in records if r.phase_key is not None])
    for record in records:
        if record.phase_key is None:
            by_run.setdefault(record.row["run_id"], []).append(record)
    rows = []
    for run_id, same_run in by_run.items():
        ended = sum(1 for r in same_run if r.rank >= 1)
        row = dict(_winner(same_run).row, times_recorded=ended)
        if run_id in phases:
            row["credits"] = (row["credits"] or 0) + phases[run_id][0]
        rows.append(row)
    for run_id, (credits, latest) in phases.items():
        if run_id not in by_run:  # the creation's records are gone: the phases' credits still count
            rows.append(dict(latest.row, credits=credits, times_recorded=0))
    rows.sort(key=lambda row: (row["recorded_at"], row["run_id"]))
    return pa.Table.from_pylist(rows, schema=LEDGER_SCHEMA)


def _output(
    context: AssetExecutionContext,
    table: pa.Table,
    io_manager_key: str,
    table_type: TableType | None,
    metadata: Mapping[str, Any],
) -> Output[Any]:
    """``table`` as the bound IO manager takes it (:mod:`._output_types`)."""
    io_manager = getattr(context.resources, io_manager_key, None)
    handed, _ = table_type_for(io_manager, table_type)
    with warnings.catch_warnings():
        # data_version is beta in Dagster 1.13: an unchanged table leaves
        # what reads it fresh.
        warnings.simplefilter("ignore", BetaWarning)
        return Output(
            as_output(table, handed),
            metadata={**table_metadata(table, partitioned=False), **metadata},
            data_version=DataVersion(content_version(table, exclude=())),
        )


def _check_table_type(table_type: TableType | None) -> None:
    if table_type is not None and table_type not in TABLE_TYPES:
        raise ValueError(
            f"table_type must be one of {', '.join(TABLE_TYPES)} (or None: taken from the "
            f"IO manager), got {table_type!r}"
        )


def build_scout_runs_ledger(
    *scout_assets: AssetsDefinition,
    name: str = "scout_runs",
    key_prefix: str | Sequence[str] | None = None,
    group_name: str | None = "scout",
    io_manager_key: str = "scout_io_manager",
    owners: Sequence[str] | None = None,
    automation_condition: AutomationCondition[Any] | None = None,
    table_type: TableType | None = None,
) -> AssetsDefinition:
    """One row per remote Scout run of ``scout_assets``: what it cost, how it ended.

    An unpartitioned table asset that depends on the primary table of each
    given multi-asset (``deps``, no data is loaded) and is rebuilt from the
    Dagster instance's event log at each materialization. See the module's
    documentation for the columns' sources, the one-row-per-run rule and a
    team's monthly spend as one ``GROUP BY``.

    Args:
        scout_assets: multi-assets of the Scout decorators or factories; the
            credits of enrich and extend assets go to their runs' rows.
        name, key_prefix: the asset's key (``scout_runs``).
        group_name, owners, automation_condition: as any asset's.
        io_manager_key: where the table goes.
        table_type: ``"arrow"``, ``"pandas"`` or ``"polars"``, what the table is
            handed to its IO manager as; None: what the IO manager takes.
    """
    if not scout_assets:
        raise ValueError("build_scout_runs_ledger needs at least one Scout multi-asset")
    sources = [_Source.of(a) for a in scout_assets]
    creators = {s.primary.to_user_string() for s in sources if s.phase is None}
    for source in sources:
        if source.phase is not None and source.upstream not in creators:
            raise ValueError(
                f"build_scout_runs_ledger: {source.primary.to_user_string()} is the "
                f"{source.phase} of the runs of {source.upstream}; pass those assets too "
                "(their materializations carry what the runs cost before it)"
            )
    _check_table_type(table_type)
    assets = list(scout_assets)
    runs_of = ", ".join(sorted({s.primary.to_user_string() for s in sources}))

    @asset(
        name=name,
        key_prefix=key_prefix,
        deps=sorted({s.primary for s in sources}, key=lambda k: k.to_user_string()),
        group_name=group_name,
        io_manager_key=io_manager_key,
        owners=owners,
        automation_condition=automation_condition,
        kinds={"scout"},
        description=f"One row per remote Scout run behind {runs_of}: its credits, state and "
        "timing, rebuilt from the Dagster event log at each materialization.",
        metadata={"dagster/column_schema": column_schema(LEDGER_SCHEMA)},
    )
    def _ledger(context: AssetExecutionContext) -> Output[Any]:
        table = runs_ledger(context.instance, assets)
        credits = pc.sum(table.column("credits")).as_py() or 0
        context.log.info(f"runs ledger: {table.num_rows} remote runs, {credits} credits")
        return _output(
            context,
            table,
            io_manager_key,
            table_type,
            {
                "scout/ledger_runs": MetadataValue.int(table.num_rows),
                # Not scout/credits: summing that over a Dagster run gives what
                # its remote runs cost, and this asset paid for none.
                "scout/ledger_credits": MetadataValue.int(int(credits)),
            },
        )

    return _ledger


# ---------------------------------------------------------------- current entities

#: Columns the current table adds after the entity's own, with their descriptions.
CURRENT_COLUMNS = (
    ("first_seen_at", "The earliest fetched_at of the entity in any partition."),
    ("last_seen_at", "The latest fetched_at of the entity."),
    ("runs_seen", "Distinct remote runs that found the entity, in the partitions that exist."),
    ("partitions_seen", "Distinct partitions whose latest run found the entity."),
    ("last_run_id", "The remote run of the latest sighting, whose values these are."),
    ("last_partition_key", "The partition of the latest sighting; null if unpartitioned."),
)
_NEEDED = ("entity_id", "run_id", "fetched_at", "partition_key")


def _to_arrow(value: Any) -> pa.Table:
    """What an IO manager loaded (Arrow, pandas, polars, or a partition -> table
    mapping) as one Arrow table."""
    if isinstance(value, pa.Table):
        return value
    if isinstance(value, pa.RecordBatchReader):
        return value.read_all()
    if isinstance(value, Mapping):
        tables = [_to_arrow(part) for part in value.values()]
        if not tables:
            return pa.table({})
        return pa.concat_tables(tables, promote_options="permissive")
    module = type(value).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(value, preserve_index=False)
    if module == "polars":
        table: pa.Table = value.to_arrow()
        return table
    raise TypeError(
        "the current entities read a pyarrow.Table, a pandas or polars DataFrame (or a "
        f"mapping of partitions to them) from the entities' IO manager; got {type(value).__name__}"
    )


def _empty_current() -> pa.Table:
    columns: dict[str, pa.Array] = {"entity_id": pa.array([], pa.string())}
    for name, _ in CURRENT_COLUMNS:
        kind = {
            "first_seen_at": _TIMESTAMP,
            "last_seen_at": _TIMESTAMP,
            "runs_seen": pa.int64(),
            "partitions_seen": pa.int64(),
        }.get(name, pa.string())
        columns[name] = pa.array([], kind)
    return pa.table(columns)


def current_entities(rows: pa.Table) -> pa.Table:
    """One row per ``entity_id`` of ``rows`` (every partition of an entities table).

    The entity's values are those of its latest row by ``fetched_at`` (ties:
    the greater ``run_id``), without the provenance columns; then
    ``first_seen_at``, ``last_seen_at``, ``runs_seen``, ``partitions_seen``
    (distinct non-null partition keys), ``last_run_id`` and
    ``last_partition_key``. Rows without an ``entity_id`` are left out. Sorted
    by ``entity_id``.
    """
    if rows.num_columns == 0:  # no partition materialized yet
        return _empty_current()
    missing = [c for c in _NEEDED if c not in rows.column_names]
    if missing:
        raise ValueError(
            f"the entities table has no {', '.join(missing)} column: current entities are "
            "merged from a Scout entities table"
        )
    rows = rows.filter(pc.is_valid(rows.column("entity_id")))
    ordered = rows.sort_by(
        [("entity_id", "ascending"), ("fetched_at", "descending"), ("run_id", "descending")]
    )
    ids = ordered.column("entity_id").combine_chunks()
    # The first row of each entity in this order is its latest sighting.
    changed = pc.not_equal(ids.slice(1), ids.slice(0, max(len(ids) - 1, 0))).fill_null(True)
    first = pa.concat_arrays([pa.array([True] * min(len(ids), 1), pa.bool_()), changed])
    latest = ordered.filter(first)
    stats = (
        rows.group_by("entity_id")
        .aggregate(
            [
                ("fetched_at", "min"),
                ("fetched_at", "max"),
                ("run_id", "count_distinct", pc.CountOptions(mode="only_valid")),
                ("partition_key", "count_distinct", pc.CountOptions(mode="only_valid")),
            ]
        )
        .sort_by("entity_id")  # the order of `latest`: one row per entity in each
    )
    values = [c for c in latest.column_names if c not in PROVENANCE_COLUMNS]
    current = latest.select(values)
    added = {
        "first_seen_at": stats.column("fetched_at_min"),
        "last_seen_at": stats.column("fetched_at_max"),
        "runs_seen": stats.column("run_id_count_distinct"),
        "partitions_seen": stats.column("partition_key_count_distinct"),
        "last_run_id": latest.column("run_id"),
        "last_partition_key": latest.column("partition_key"),
    }
    for name, column in added.items():
        current = current.append_column(name, column)
    return current


def _entities_spec(findall_assets: object) -> AssetSpec:
    if isinstance(findall_assets, AssetsDefinition):
        for spec in findall_assets.specs:
            facts = ScoutMetadataSet.extract(spec.metadata)
            if facts.kind == "findall" and facts.table == "entities":
                return spec
    raise ValueError(
        "build_current_entities takes the assets of @scout_findall_assets or "
        f"build_findall_assets; got {_shown(findall_assets)}"
    )


def _current_schema(entities: AssetSpec) -> TableSchema | None:
    """The current table's column schema, from the entities' (when they declare one)."""
    declared = entities.metadata.get("dagster/column_schema")
    columns = getattr(declared, "columns", None)
    if columns is None:
        return None
    kept = [c for c in columns if c.name not in PROVENANCE_COLUMNS]
    by_name = {c.name: c for c in columns}
    types = {
        "first_seen_at": by_name["fetched_at"].type if "fetched_at" in by_name else "timestamp",
        "runs_seen": "int64",
        "partitions_seen": "int64",
    }
    types["last_seen_at"] = types["first_seen_at"]
    added = [
        TableColumn(name=name, type=types.get(name, "string"), description=description)
        for name, description in CURRENT_COLUMNS
    ]
    return TableSchema(columns=[*kept, *added])


def _python_type(table_type: TableType) -> type:
    if table_type == "pandas":
        import pandas

        return pandas.DataFrame
    if table_type == "polars":
        import polars

        return cast(type, polars.DataFrame)
    return cast(type, pa.Table)


def build_current_entities(
    findall_assets: AssetsDefinition,
    name: str | None = None,
    *,
    key_prefix: str | Sequence[str] | None = None,
    group_name: str | None = None,
    io_manager_key: str | None = None,
    owners: Sequence[str] | None = None,
    automation_condition: AutomationCondition[Any] | None = None,
    table_type: TableType | None = None,
) -> AssetsDefinition:
    """The entities of every partition of a FindAll asset, merged by ``entity_id``.

    An unpartitioned table asset, ``<entities key>_current`` (``ai_infra_entities``
    gives ``ai_infra_entities_current``), that takes every partition of the
    entities table as its input (``AllPartitionMapping``) and keeps, per
    entity, its latest values and when and how often it was seen (see
    :func:`current_entities`). It is recomputed from the partitions that
    exist: a re-materialized partition's earlier run no longer counts (see
    the module's documentation for why).

    Args:
        findall_assets: the multi-asset of ``@scout_findall_assets`` or
            ``build_findall_assets``.
        name: the asset's name; default: the entities' name + ``_current``.
        key_prefix: default: the entities key's prefix.
        group_name: default: the entities' group.
        io_manager_key: default: the entities' IO manager.
        owners, automation_condition: as any asset's.
        table_type: what the entities are loaded as and the table is handed
            over as (``"arrow"``, ``"pandas"``, ``"polars"``); None: what the
            IO manager gives and takes. Set it for IO managers that load by
            type: ``"arrow"`` for Delta and Iceberg, ``"polars"`` for DuckDB's
            polars manager.
    """
    entities = _entities_spec(findall_assets)
    _check_table_type(table_type)
    path = entities.key.path
    prefix = list(path[:-1]) if key_prefix is None else key_prefix
    manager = io_manager_key or str(
        entities.metadata.get("dagster/io_manager_key", "scout_io_manager")
    )
    schema = _current_schema(entities)
    entities_in = AssetIn(key=entities.key, partition_mapping=AllPartitionMapping())
    if table_type is not None:
        # What the entities are loaded as: warehouse IO managers load by the
        # input's type (Delta and Iceberg have no handler for Any).
        entities_in = AssetIn(
            key=entities.key,
            partition_mapping=AllPartitionMapping(),
            dagster_type=_python_type(table_type),
        )

    @asset(
        name=name or f"{path[-1]}_current",
        key_prefix=prefix,
        ins={"entities": entities_in},
        group_name=group_name if group_name is not None else entities.group_name,
        io_manager_key=manager,
        owners=owners,
        automation_condition=automation_condition,
        kinds={"scout"},
        description=f"The entities of every partition of {entities.key.to_user_string()}, "
        "one row per entity_id: its latest values, when it was first and last seen, in how "
        "many runs and partitions. Recomputed from the partitions that exist.",
        metadata={"dagster/column_schema": schema} if schema is not None else None,
    )
    def _current(context: AssetExecutionContext, entities: Any) -> Output[Any]:
        rows = _to_arrow(entities)
        table = current_entities(rows)
        context.log.info(f"{rows.num_rows} entity rows merged into {table.num_rows} entities")
        return _output(
            context,
            table,
            manager,
            table_type,
            {"scout/rows_merged": MetadataValue.int(rows.num_rows)},
        )

    return _current
