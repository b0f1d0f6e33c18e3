"""What an execution yields from its finished run: every table as an ``Output``.

Each table goes to its asset's key in the type its IO manager takes
(:mod:`._output_types`), with its metadata and a data version of its rows;
then the asset checks that were selected, counted on a thread of their own
while the tables are written. The facts about the run shared by every table
(and those only on the primary table) are gathered here too.
"""

import datetime as dt
import hashlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    DataVersion,
    MetadataValue,
    Output,
)

from .._follower import FollowResult
from .._models import FindAllRun, SearchRun
from ..tables.provenance import Provenance
from ..tables.spool import SpooledTable
from ..tables.versions import RUN_SPECIFIC_COLUMNS
from ._asset_layout import ScoutAssetLayout
from ._checks import CheckEvaluation
from ._output_types import report_table, table_type_for
from ._table_output import handed_over, table_output, versioned_output

if TYPE_CHECKING:
    from ._resource import ScoutResource

__all__ = ["RunOutputs"]

#: Characters of the report shown in the UI (the whole report is stored).
REPORT_PREVIEW_CHARS = 20_000


class RunOutputs:
    """The outputs and checks of one materialization (``_Execution`` is one)."""

    context: AssetExecutionContext
    layout: ScoutAssetLayout
    resource: "ScoutResource"
    partition_key: str | None
    values: dict[str, object]

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
        start = self.values.get("start")
        return Provenance(
            run_id=run_id,
            query=query,
            fetched_at=run.completed_at or dt.datetime.now(dt.UTC),
            partition_key=self.partition_key,
            # The time window's start: a warehouse selects a partition's rows by it.
            partition_start=getattr(start, "value", None),
        )

    def outputs(
        self,
        tables: Mapping[str, pa.Table | SpooledTable],
        facts: Mapping[str, Any],
        provenance: Provenance,
        *,
        checked: tuple[str, str],
        report: tuple[str, str] | None = None,
    ) -> Iterator[Output[Any] | AssetCheckResult]:
        """Every table of the run, in one go (the multi-asset is not subsettable),
        each in the type its IO manager takes (:mod:`._output_types`); then
        the selected checks of ``checked`` (the primary table's name, its id
        column), counted on a thread of their own while the tables are written.

        The run's credits go on the primary table only, so that summing
        ``scout/credits`` over a Dagster run's materializations gives what
        the remote runs cost; every table carries the run id.
        ``report``: (the report as the API sent it, the same for display).
        """
        if self.resource.uses_emulator:
            facts = {
                **facts,
                "scout/synthetic": MetadataValue.text(
                    "SYNTHETIC data from the local Scout emulator, not the Scout API"
                ),
            }
        primary = self.layout.primary_key
        selected = {
            check.name
            for check in self.context.selected_asset_check_keys
            if check.asset_key == primary
        }
        checked_table, id_column = checked
        evaluation = (
            CheckEvaluation(primary, tables[checked_table], id_column, selected)
            if selected
            else None
        )
        try:
            yield from self._tables(tables, facts, provenance, report)
            if evaluation is not None:
                yield from evaluation.results()
        finally:
            # The tables were handed on, or the step failed: once the checks'
            # count (which may read a spooled table's file) is done, a spooled
            # table's file goes now, not when it is garbage-collected.
            if evaluation is not None:
                evaluation.wait()
            for table in tables.values():
                if isinstance(table, SpooledTable):
                    table.close()

    def _tables(
        self,
        tables: Mapping[str, pa.Table | SpooledTable],
        facts: Mapping[str, Any],
        provenance: Provenance,
        report: tuple[str, str] | None,
    ) -> Iterator[Output[Any]]:
        primary = self.layout.primary_key
        shared = {k: v for k, v in facts.items() if k not in _PRIMARY_ONLY}
        partitioned = self.partition_key is not None
        for table_name, table in tables.items():
            key = self.layout.keys[table_name]
            metadata = dict(facts if key == primary else shared)
            if key != primary:
                metadata["scout/credits_on"] = MetadataValue.text(primary.to_user_string())
            yield table_output(
                self.context,
                table,
                self.layout.io_manager_keys[table_name],
                self.layout.table_type,
                metadata,
                partitioned=partitioned,
                # A refresh that found the same rows changes no version.
                version_excludes=RUN_SPECIFIC_COLUMNS,
                output_name=key.to_python_identifier(),
            )
        if report is not None:
            raw, shown = report
            key = self.layout.keys["report"]
            metadata = {
                **shared,
                "scout/credits_on": MetadataValue.text(primary.to_user_string()),
                "report": MetadataValue.md(shown[:REPORT_PREVIEW_CHARS]),
                "report_chars": MetadataValue.int(len(raw)),
            }
            version = DataVersion(hashlib.sha256(raw.encode()).hexdigest()[:24])
            io_manager_key = self.layout.io_manager_keys["report"]
            io_manager = getattr(self.context.resources, io_manager_key, None)
            _, text_ok = table_type_for(io_manager, self.layout.table_type)
            # A table IO manager stores no text: the report as one row.
            stored = (
                raw
                if text_ok
                else handed_over(
                    self.context,
                    report_table(raw, provenance.columns(1)),
                    io_manager_key,
                    self.layout.table_type,
                )
            )
            yield versioned_output(stored, metadata, version, key.to_python_identifier())


#: Run facts that count once per remote run: only on the primary table.
_PRIMARY_ONLY = frozenset({"scout/credits", "scout/credits_max_seen", "scout/warnings"})
