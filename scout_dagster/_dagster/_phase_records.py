"""What an enrich or extend is, and what Dagster keeps of one: the bookkeeping
that makes it happen once per upstream run.

- :class:`Phase`: the declared operation and its POST body; its
  ``fingerprint`` names it in keys, tags and metadata.
- :class:`PhaseBook`, for one asset and partition: the upstream run (from the
  upstream's latest materialization), the POST's idempotency key, whether an
  earlier materialization covers the run already, the run tag that says an
  attempt sent (or was sending) the POST with the credits before it, and the
  metadata and failure observations the runs ledger reads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetRecordsFilter,
    DagsterRun,
    Failure,
    MetadataValue,
)
from dagster._core.definitions.metadata.metadata_set import NamespacedMetadataSet

from .._errors import RunFailed
from .._models import FindAllRun
from .._text import truncate
from ..tables.columns import EntityColumn

__all__ = ["Before", "Mode", "Operation", "Phase", "PhaseBook", "PhaseMetadataSet", "Plan"]

Operation = Literal["enrich", "extend"]
#: How a materialization came by its phase: it sent the POST, sent it again
#: under the same key (a crash between the POST and its tag), adopted one an
#: earlier attempt sent, or found it applied by an earlier materialization.
Mode = Literal["sent", "sent_again", "adopted", "already_applied"]
#: Materializations of the asset asked of the instance at a time.
_PAGE = 100


class PhaseMetadataSet(NamespacedMetadataSet):
    """What the specs of an enrich or extend asset say of it (``scout_phase/...``)."""

    operation: str | None = None
    upstream: str | None = None  # the upstream entities' key, as a user string
    upstream_name: str | None = None

    @classmethod
    def namespace(cls) -> str:
        return "scout_phase"


@dataclasses.dataclass(frozen=True)
class Phase:
    """One enrich or extend of an upstream FindAll asset's runs, as declared."""

    operation: Operation
    body: Mapping[str, Any]  # the POST's body
    upstream_key: AssetKey  # the upstream entities table
    columns: tuple[EntityColumn, ...]  # this asset's entity columns
    #: Enrich: the names the run must echo once enriched (its fields and properties).
    requested: tuple[str, ...] = ()

    @property
    def fingerprint(self) -> str:
        canonical = json.dumps(
            {"operation": self.operation, **self.body}, sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @property
    def upstream(self) -> str:
        return self.upstream_key.to_user_string()


@dataclasses.dataclass(frozen=True)
class Before:
    """The run as it stood before the POST: what the phase's credits start from."""

    credits: int
    count: int
    state: str
    completed_at: str | None

    @classmethod
    def of(cls, run: FindAllRun) -> Before:
        done = run.completed_at.isoformat() if run.completed_at else None
        return cls(run.credits, run.count, run.state.value, done)

    @classmethod
    def parse(cls, value: Any) -> Before | None:
        if not isinstance(value, Mapping):
            return None
        try:
            return cls(
                int(value["credits"]),
                int(value["count"]),
                str(value["state"]),
                value.get("completed_at"),
            )
        except (KeyError, TypeError, ValueError):
            return None


@dataclasses.dataclass(frozen=True)
class Plan:
    """What one materialization does about the phase."""

    mode: Mode
    run_id: str  # the upstream's remote run
    key: str  # the POST's idempotency key
    before: Before | None  # None: this materialization adds nothing


def _value(metadata: Mapping[str, Any], key: str) -> Any:
    entry = metadata.get(key)
    return getattr(entry, "value", entry)


class PhaseBook:
    """The records of one enrich or extend asset's phases, for one partition."""

    def __init__(
        self,
        context: AssetExecutionContext,
        phase: Phase,
        *,
        name: str,
        primary_key: AssetKey,
        partition_key: str | None,
    ) -> None:
        self.context = context
        self.phase = phase
        self.name = name
        self.primary_key = primary_key
        self.partition = partition_key or ""
        self.partitions = [str(partition_key)] if partition_key is not None else None
        self.where = f" for partition {partition_key}" if partition_key is not None else ""

    @property
    def tag(self) -> str:
        return f"scout/phase/{self.name}"

    def upstream_run_id(self) -> str:
        """The remote run of the upstream's latest materialization of the partition."""
        upstream = self.phase.upstream
        records = self.context.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=self.phase.upstream_key, asset_partitions=self.partitions),
            limit=1,
        ).records
        if not records or records[0].asset_materialization is None:
            raise Failure(
                description=f"materialize {upstream} first{self.where}: {self.name} applies its "
                f"{self.phase.operation} to the FindAll run of {upstream}'s latest "
                "materialization, and there is none. Nothing was sent."
            )
        run_id = _value(records[0].asset_materialization.metadata, "scout/run_id")
        if not isinstance(run_id, str) or not run_id:
            raise Failure(
                description=f"the latest materialization of {upstream}{self.where} names no "
                "remote run (scout/run_id): it was not written by a Scout FindAll run. "
                "Materialize it with its Scout assets first. Nothing was sent."
            )
        return run_id

    def key(self, run_id: str) -> str:
        """The POST's idempotency key: the same for every attempt at this asset,
        partition, upstream run and phase, so the API applies it once, whoever
        sends it how often."""
        parts = [self.name, self.partition, run_id, self.phase.fingerprint]
        digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]
        return f"scout-dagster-{self.phase.operation}-{digest}"

    def covered(self, run_id: str) -> bool:
        """Whether a materialization of this asset's partition has this phase
        of the run already."""
        cursor: str | None = None
        while True:
            page = self.context.instance.fetch_materializations(
                AssetRecordsFilter(asset_key=self.primary_key, asset_partitions=self.partitions),
                limit=_PAGE,
                cursor=cursor,
            )
            for record in page.records:
                materialization = record.asset_materialization
                if materialization is None:
                    continue
                metadata = materialization.metadata
                if (
                    _value(metadata, "scout/upstream_run_id") == run_id
                    and _value(metadata, "scout/phase_fingerprint") == self.phase.fingerprint
                ):
                    return True
            if not page.has_more:
                return False
            cursor = page.cursor

    def recorded(self, run_id: str, runs: Iterable[DagsterRun]) -> tuple[Before, bool] | None:
        """(the credits before, whether the POST was answered) as one of ``runs``
        (this Dagster run and its parents) recorded them for this run and phase."""
        for run in runs:
            try:
                record = json.loads(run.tags.get(self.tag, "null"))
            except ValueError:
                continue
            if (
                isinstance(record, dict)
                and record.get("run_id") == run_id
                and record.get("partition") == self.partition
                and record.get("fingerprint") == self.phase.fingerprint
            ):
                before = Before.parse(record.get("before"))
                if before is not None:
                    return before, bool(record.get("posted"))
        return None

    def record(self, plan: Plan, *, posted: bool) -> None:
        """On this Dagster run, at once: found by a step retry or a re-execution."""
        assert plan.before is not None
        record = {
            "run_id": plan.run_id,
            "partition": self.partition,
            "fingerprint": self.phase.fingerprint,
            "posted": posted,
            "before": dataclasses.asdict(plan.before),
        }
        self.context.instance.add_run_tags(
            self.context.run.run_id, {self.tag: json.dumps(record, separators=(",", ":"))}
        )

    def metadata(self, plan: Plan) -> dict[str, Any]:
        """The phase's facts on its tables (the covering check reads two of them)."""
        metadata: dict[str, Any] = {
            "scout/phase": MetadataValue.text(self.phase.operation),
            "scout/phase_mode": MetadataValue.text(plan.mode),
            "scout/phase_fingerprint": MetadataValue.text(self.phase.fingerprint),
            "scout/phase_key": MetadataValue.text(plan.key),
            "scout/upstream_run_id": MetadataValue.text(plan.run_id),
            "scout/upstream_asset": MetadataValue.text(self.phase.upstream),
        }
        if plan.before is not None:
            metadata["scout/credits_before"] = MetadataValue.int(plan.before.credits)
        if self.phase.operation == "extend":
            metadata["scout/additional_limit"] = MetadataValue.int(
                int(self.phase.body["additional_limit"])
            )
        else:
            metadata["scout/enriched_fields"] = MetadataValue.text(", ".join(self.phase.requested))
        return metadata

    def failure_observation(self, exc: Exception, plan: Plan | None) -> dict[str, Any] | None:
        """What a phase that ended without tables cost, for the runs ledger; None
        when it cost nothing of this materialization's."""
        if not isinstance(exc, RunFailed) or plan is None or plan.before is None:
            return None
        credits = max((exc.credits or plan.before.credits) - plan.before.credits, 0)
        return {
            "scout/outcome": "failed",
            "scout/run_id": plan.run_id,
            "scout/phase": self.phase.operation,
            "scout/phase_key": plan.key,
            "scout/upstream_run_id": plan.run_id,
            "scout/final_state": exc.final_state,
            "scout/credits": MetadataValue.int(credits),
            "scout/error": truncate(str(exc), 500),
        }
