"""The runs ledger's rows: one per remote Scout run, from the event-log
records of the Scout assets (:mod:`._ledger_records`). The one-row-per-run
rule is documented in :mod:`._history`.
"""

from collections.abc import Sequence

import pyarrow as pa
from dagster import AssetsDefinition, DagsterInstance

from ..tables.schemas import arrow_schema
from ._ledger_records import _failures, _materializations, _Record, _Source
from ._runs_ledger import LEDGER_COLUMNS

__all__ = ["LEDGER_SCHEMA", "runs_ledger"]

LEDGER_SCHEMA = arrow_schema(LEDGER_COLUMNS)


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
