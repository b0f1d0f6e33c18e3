"""The execution protocol: one materialization of a Scout multi-asset.

``ScoutResource.run_findall(context, request)`` and ``run_search`` yield what
this module makes: render the request for the partition, derive the
idempotency key, adopt a remote run an earlier attempt started or create one,
follow it (deadline, budget, cancel on termination), read its final body,
and yield every table of the run as an ``Output`` with its metadata, then
the asset checks. Every Scout error becomes a ``dagster.Failure`` here.

Where each table goes and the run's settings are the asset's layout
(``_asset_layout.py``); the outputs and checks are ``_run_outputs.py``'s; a
FindAll run's body is read by ``_findall_read.py``.
"""

# Dagster reads the context annotation at definition time, so annotations here
# must stay real objects (no `from __future__ import annotations`).

import hashlib
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetObservation,
    AssetRecordsFilter,
    DagsterRunStatus,
    Failure,
    MetadataValue,
    Output,
)

from .._client import ScoutClient
from .._errors import RunFailed, RunTerminated, ScoutError
from .._findall_read import body_followed, fetch_run_body, look_reader, with_body_status
from .._follower import FollowResult, RunFollower, RunProgress
from .._models import FindAllRun, SearchRun
from .._report import report_for_display
from .._requests import AnyRequest, FindAllRequest, SearchRequest
from .._termination import TerminationWatch
from .._text import truncate
from ..tables.schemas import entity_columns
from ..tables.search import search_tables
from ..tables.spool import close_if_spooled
from ._asset_layout import ScoutAssetLayout, layout_for
from ._metadata import run_metadata
from ._partitions import partition_key_of, partition_values, render_request
from ._run_outputs import RunOutputs

if TYPE_CHECKING:
    from ._resource import ScoutResource

__all__ = ["materialize_findall", "materialize_search"]

#: A Dagster run someone asked to terminate is CANCELING until its steps end.
_TERMINATING = frozenset({DagsterRunStatus.CANCELING, DagsterRunStatus.CANCELED})
#: Runs a Dagster run remembers having cancelled (a tag value stays short).
_CANCELLED_KEPT = 5


class _Execution(RunOutputs):
    """One materialization: the steps both kinds of run share."""

    def __init__(
        self,
        context: AssetExecutionContext,
        resource: "ScoutResource",
        layout: ScoutAssetLayout,
        *,
        unit: str,
        read_findall_look: Callable[[ScoutClient, str], tuple[FindAllRun, Any]] | None = None,
    ) -> None:
        self.context = context
        self.layout = layout
        self.kind = "FindAll" if layout.kind == "findall" else "search"
        self.resource = resource
        self.client = resource.get_client()
        try:
            self.partition_key = partition_key_of(context)
            self.values = partition_values(context, self.partition_key)
        except ValueError as exc:
            raise Failure(description=str(exc)) from exc
        self.unit = unit
        self.follower = self.make_follower(
            layout.timeout_s, layout.credit_budget, read_findall_look=read_findall_look
        )

    def make_follower(
        self,
        deadline_s: float,
        credit_budget: int | None,
        *,
        use_stream: bool = True,
        read_findall_look: Callable[[ScoutClient, str], tuple[FindAllRun, Any]] | None = None,
    ) -> RunFollower:
        """A follower with this execution's termination watch, progress log and
        cancel bookkeeping."""
        return RunFollower(
            self.client,
            deadline_s=deadline_s,
            credit_budget=credit_budget,
            keep_partial=self.layout.keep_partial,
            # A failed wait cancels the remote run, unless a step retry is coming:
            # that retry adopts the run instead of paying for a new one.
            cancel_on_error=not self._retry_pending(),
            use_stream=use_stream,
            # Under Celery or a step-delegating executor no interrupt reaches
            # this step when the run is terminated: it asks the instance.
            terminated=TerminationWatch(self._run_terminated),
            cancel_on_termination=self.resource.cancel_on_termination,
            on_progress=self._log_progress(self.unit),
            on_cancelled=self._record_cancel,
            read_findall_look=read_findall_look,
        )

    def _run_terminated(self) -> bool:
        record = self.context.instance.get_run_record_by_id(self.context.run.run_id)
        return record is not None and record.dagster_run.status in _TERMINATING

    def _retry_pending(self) -> bool:
        policy = self.context.op_def.retry_policy
        return policy is not None and self.context.retry_number < policy.max_retries

    @property
    def run_tag(self) -> str:
        return f"scout/run/{self.layout.name}"

    @property
    def cancelled_tag(self) -> str:
        return f"scout/cancelled/{self.layout.name}"

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
        parts = [self.layout.name, self.partition_key or "", fingerprint, self._epoch()]
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
        for key in self.layout.keys.values():
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
        if not adopted:
            # Every remote run started is in the runs ledger, even one given up
            # later (a run that ended at once, replaced by a new one).
            self._observe({"scout/outcome": "started", "scout/run_id": run.run_id})

    def _log_progress(self, unit: str) -> Callable[[RunProgress], None]:
        def report(progress: RunProgress) -> None:
            target = f" of {progress.items_target}" if progress.items_target else ""
            self.context.log.info(
                f"{self.kind} run {progress.run_id}: {progress.state.value}, "
                f"{progress.items}{target} {unit}, {progress.credits} credits, "
                f"{progress.elapsed_s:.1f} s"
            )

        return report

    def render(self, request: AnyRequest) -> AnyRequest:
        """The request for this execution's partition."""
        return render_request(request, self.context.assets_def.partitions_def, self.values)

    def follow(self, rendered: FindAllRequest | SearchRequest) -> FollowResult[Any]:
        """Create the run (or adopt the one an earlier attempt started) and follow it."""
        run = (
            self.follower.run_findall
            if isinstance(rendered, FindAllRequest)
            else self.follower.run_search
        )
        return run(
            rendered,  # type: ignore[arg-type]
            idempotency_key=self.idempotency_key(rendered.fingerprint),
            adopt_run_id=self.run_to_adopt(),
            dead_runs=self.dead_runs(),
            on_started=self.on_started,
        )

    def record_paid_failure(self, exc: Exception) -> None:
        """A remote run that ended without tables still cost credits: say so on
        the primary table as an observation, which a step retry does not
        swallow (the runs ledger reads it)."""
        if not isinstance(exc, RunFailed) or not exc.run_id or exc.run_id == "none":
            return
        self._observe(
            {
                "scout/outcome": "failed",
                "scout/run_id": exc.run_id,
                "scout/final_state": exc.final_state,
                "scout/credits": MetadataValue.int(exc.credits or 0),
                "scout/error": truncate(str(exc), 500),
            }
        )

    def _observe(self, metadata: Mapping[str, Any]) -> None:
        self.context.log_event(
            AssetObservation(
                asset_key=self.layout.primary_key,
                partition=self.partition_key,
                metadata=dict(metadata),
            )
        )


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


# ---------------------------------------------------------------- FindAll


def materialize_findall(
    context: AssetExecutionContext, resource: "ScoutResource", request: FindAllRequest
) -> Iterator[Output[Any] | AssetCheckResult]:
    """One materialization of a FindAll multi-asset: both tables, then the checks."""
    layout = layout_for(context, request, "findall")
    columns = entity_columns(request)
    execution = _Execution(
        context, resource, layout, unit="entities", read_findall_look=look_reader(columns)
    )
    try:
        rendered = execution.render(request)
        result: FollowResult[FindAllRun] = execution.follow(rendered)
        # The body is read by pyarrow as it downloads, facts and tables in
        # one parse: a run of a million entities does not become a million
        # Python dicts here (unless it does not fit the declared types), nor
        # a 200 MB body held whole. Its own state must say completed,
        # whatever the events said.
        run_id = result.run.findall_id
        body = body_followed(result, run_id, columns) or execution.follower.read_final(
            result, lambda: fetch_run_body(execution.client, run_id, columns)
        )
    except (ScoutError, ValueError) as exc:
        execution.record_paid_failure(exc)
        raise _failure(exc) from exc
    try:
        final = with_body_status(result.run, body)
        provenance = execution.provenance(final.findall_id, rendered.query, final)
        tables = body.tables(provenance)
        # No line of our own here: the follower's ending line said the run
        # completed, with its entities and credits; the tables' row counts
        # are their materializations' metadata (each log line is an event).
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
    except BaseException:
        close_if_spooled(body.entities)  # not handed on: its file goes now
        raise
    yield from execution.outputs(
        {"entities": tables.entities, "citations": tables.citations},
        metadata,
        provenance,
        checked=("entities", "entity_id"),
    )


# ---------------------------------------------------------------- search


def materialize_search(
    context: AssetExecutionContext, resource: "ScoutResource", request: SearchRequest
) -> Iterator[Output[Any] | AssetCheckResult]:
    """One materialization of a search multi-asset: all four tables, then the checks."""
    layout = layout_for(context, request, "search")
    execution = _Execution(context, resource, layout, unit="pages")
    try:
        rendered = execution.render(request)
        result: FollowResult[SearchRun] = execution.follow(rendered)
        search_id = result.run.search_id
        # Its own state must say completed (or cancelled, for the partial
        # result we stopped and kept), whatever the events said.
        final = execution.follower.read_final(
            result, lambda: execution.client.get_search_run(search_id)
        )
    except (ScoutError, ValueError) as exc:
        execution.record_paid_failure(exc)
        raise _failure(exc) from exc
    provenance = execution.provenance(final.search_id, " | ".join(rendered.queries), final)
    tables = search_tables(final, provenance)
    state = "partial (stopped by us)" if result.partial else final.state.value
    context.log.info(
        f"search run {final.search_id} {state}: {tables.results.num_rows} results, "
        f"{tables.sources.num_rows} sources, {tables.findings.num_rows} findings, "
        f"{final.credits} credits"
    )
    metadata = run_metadata(result, final)
    execution.check_credits(metadata, result, final)
    yield from execution.outputs(
        {"results": tables.results, "sources": tables.sources, "findings": tables.findings},
        metadata,
        provenance,
        checked=("results", "result_id"),
        report=(tables.report, report_for_display(tables.report, final.sources)),
    )
