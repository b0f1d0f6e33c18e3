"""The runs ledger: one row per remote Scout run, rebuilt from the instance's
event log (:func:`build_scout_runs_ledger`).

Its columns' sources, the one-row-per-run rule and a team's monthly spend as
one ``GROUP BY`` are documented in :mod:`._history`, which exports it.
"""

# Dagster reads the context annotation at definition time, so annotations here
# must stay real objects (no `from __future__ import annotations`).

from collections.abc import Sequence
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    AutomationCondition,
    MetadataValue,
    Output,
    asset,
)

from ..tables.columns import TIMESTAMP_TYPE_NAME, Column
from ._history_tables import _check_table_type
from ._ledger_records import _Source
from ._metadata import column_schema
from ._output_types import TableType

__all__ = ["LEDGER_COLUMNS", "build_scout_runs_ledger"]


def _described(name: str, type_name: str, description: str) -> Column:
    return Column(name, type_name, description=description)


LEDGER_COLUMNS = (
    _described("run_id", "string", "The remote Scout run (findall_id or search_id)."),
    _described("kind", "string", "findall or search."),
    _described("name", "string", "The base name of the Scout assets (ai_infra)."),
    _described("asset", "string", "The primary table's asset key, which carries the credits."),
    _described("team", "string", "The primary table's first team: owner, without team:."),
    _described("group_name", "string", "The primary table's asset group."),
    _described("partition_key", "string", "The partition the run was for; null if none."),
    _described("outcome", "string", "materialized, or failed (paid, nothing written)."),
    _described("state", "string", "The remote run's final state (completed, cancelled, ...)."),
    _described("credits", "int64", "Credits the run cost, as last read."),
    _described("created_at", TIMESTAMP_TYPE_NAME, "When the remote run was created (the API's)."),
    _described("completed_at", TIMESTAMP_TYPE_NAME, "When the remote run ended (the API's)."),
    _described("wait_s", "double", "Seconds the materialization waited on the run."),
    _described("adopted", "bool", "Whether an earlier attempt had started the run."),
    _described("partial", "bool", "Whether a stopped run's partial result was kept."),
    _described("termination_reason", "string", "Why the run ended, as the API or we said."),
    _described("error", "string", "The failure's description (failed runs only)."),
    _described("dagster_run_id", "string", "The Dagster run of the winning record."),
    _described("recorded_at", TIMESTAMP_TYPE_NAME, "When Dagster recorded the winning record."),
    _described("times_recorded", "int64", "Materializations and failures naming the run."),
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
        metadata={"dagster/column_schema": column_schema(LEDGER_COLUMNS)},
    )
    def _ledger(context: AssetExecutionContext) -> Output[Any]:
        # Imported here: the step needs pyarrow, loading the definitions does not.
        from ._ledger_rows import runs_ledger
        from ._table_output import table_output

        table = runs_ledger(context.instance, assets)
        credits = sum(value or 0 for value in table.column("credits").to_pylist())
        context.log.info(f"runs ledger: {table.num_rows} remote runs, {credits} credits")
        return table_output(
            context,
            table,
            io_manager_key,
            table_type,
            {
                "scout/ledger_runs": MetadataValue.int(table.num_rows),
                # Not scout/credits: summing that over a Dagster run gives what
                # its remote runs cost, and this asset paid for none.
                "scout/ledger_credits": MetadataValue.int(credits),
            },
        )

    return _ledger
