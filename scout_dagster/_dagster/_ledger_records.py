"""The records of the instance's event log that name a remote Scout run: the
materializations and the failure observations the runs ledger is built from
(see :mod:`._history` for what each one gives)."""

import dataclasses
import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    AssetsDefinition,
    DagsterInstance,
)

from .._text import truncate
from ._history_tables import _shown
from ._phase_records import PhaseMetadataSet
from ._translator import PRIMARY_TABLE, ScoutMetadataSet

__all__ = ["ERROR_CHARS", "PAGE"]

#: Records asked of the instance at a time.
PAGE = 1000
#: Characters of a failure's description kept in the ledger.
ERROR_CHARS = 1000


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
