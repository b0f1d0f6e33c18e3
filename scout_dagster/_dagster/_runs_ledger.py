"""The runs ledger: one row per remote Scout run, rebuilt from the instance's
event log (:func:`build_scout_runs_ledger`).

Its columns' sources, the one-row-per-run rule and a team's monthly spend as
one ``GROUP BY`` are documented in :mod:`._history`, which exports it.
"""

# Dagster reads the context annotation at definition time, so annotations here
# must stay real objects (no `from __future__ import annotations`).

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    AutomationCondition,
    DagsterInstance,
    MetadataValue,
    Output,
    asset,
)

from ._history_tables import _TIMESTAMP, _check_table_type, _output
from ._ledger_records import _failures, _materializations, _Record, _Source
from ._metadata import column_schema
from ._output_types import TableType

__all__ = ["LEDGER_SCHEMA", "build_scout_runs_ledger", "runs_ledger"]


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
