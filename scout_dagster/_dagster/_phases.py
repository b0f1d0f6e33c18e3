"""The execution of an enrich or extend asset: a later phase of an upstream FindAll run.

``materialize_phase`` is the body of the assets of
:func:`~scout_dagster.build_findall_enrich_assets` and
:func:`~scout_dagster.build_findall_extend_assets`. For the partition it
materializes, it

1. reads the remote run from the upstream entities' latest materialization of
   that partition (``scout/run_id``); none: a ``Failure``, nothing sent;
2. decides whether to send the POST (``…/enrich`` or ``…/extend``), once per
   upstream run and phase: not when one of this asset's own materializations
   of the partition already covers that run and fingerprint
   (``scout/upstream_run_id``, ``scout/phase_fingerprint``), nor when this
   Dagster run or a parent recorded that it sent it (the run tag
   ``scout/phase/<name>``, written before and after the POST, with the run's
   credits before it); the POST's ``Idempotency-Key`` is derived from the
   asset, the partition, the upstream run and the fingerprint, so even a
   POST sent twice (a crash between it and its tag) is applied once;
3. waits for the new phase by polling (the event stream of a run that had
   completed replays that old completion first), with the deadline, the
   credit budget (on the credits the phase adds) and the cancel on
   termination of any Scout asset;
4. reads the final body and writes a table only from one that is completed
   *after* the phase (an enrich's fields echoed, ``completedAt`` or the
   figures moved on since before the POST);
5. puts on the primary table ``scout/credits`` = what the phase added (the
   run's credits after, minus before the POST), so that summing
   ``scout/credits`` over the upstream's and these materializations gives
   what the remote run cost.
"""

# Dagster reads the context annotation at definition time, so annotations here
# must stay real objects (no `from __future__ import annotations`).

import dataclasses
import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from dagster import AssetCheckResult, AssetExecutionContext, Failure, MetadataValue, Output

from .._deadline import Deadline, within
from .._errors import (
    RunDeadlineExceeded,
    RunFailed,
    RunTerminated,
    ScoutAPIError,
    ScoutDeadlineError,
    ScoutError,
)
from .._findall_read import fetch_run_body, with_body_status
from .._follower import FINDALL, FollowResult
from .._models import FindAllRun, RunState
from .._text import truncate
from ..tables.findall import FindAllBody
from ..tables.spool import close_if_spooled
from ._asset_layout import ScoutAssetLayout
from ._execution import _Execution
from ._metadata import run_metadata
from ._phase_records import Before, Phase, PhaseBook, Plan

if TYPE_CHECKING:
    from ._resource import ScoutResource

__all__ = ["materialize_phase"]


@dataclasses.dataclass(frozen=True)
class _Read:
    """A final read: the run's head (its echoed fields), its body, and the state
    the follower is told: ``running`` while the body does not show the phase."""

    head: FindAllRun
    body: FindAllBody
    state: RunState
    lacking: tuple[str, ...]


class _PhaseExecution(_Execution):
    """One materialization of an enrich or extend asset."""

    def __init__(
        self,
        context: AssetExecutionContext,
        resource: "ScoutResource",
        layout: ScoutAssetLayout,
        phase: Phase,
    ) -> None:
        super().__init__(context, resource, layout, unit="entities")
        self.phase = phase
        self.what = f"{phase.operation} of FindAll run"
        self.deadline = Deadline.after(layout.timeout_s, f"the deadline of {layout.timeout_s:g} s")
        self.book = PhaseBook(
            context,
            phase,
            name=layout.name,
            primary_key=layout.primary_key,
            partition_key=self.partition_key,
        )
        self.where = self.book.where

    # ------------------------------------------------------------ which run, which mode

    def plan(self, run_id: str) -> Plan:
        key = self.book.key(run_id)
        upstream = self.phase.upstream
        if run_id in self.dead_runs():
            raise Failure(
                description=f"this asset cancelled FindAll run {run_id} in an earlier attempt "
                "(its deadline, budget or a termination), and a cancel discards a FindAll "
                f"run's result: materialize {upstream} again for a new run, then "
                f"{self.layout.name}. Nothing was sent.",
                allow_retries=False,
            )
        if self.book.covered(run_id):
            self.context.log.info(
                f"the {self.what} {run_id} was applied by an earlier materialization of "
                f"{self.layout.name}{self.where}: reading the run, sending nothing"
            )
            return Plan("already_applied", run_id, key, None)
        recorded = self.book.recorded(run_id, self._run_and_parents())
        if recorded is not None:
            before, posted = recorded
            self.context.log.info(
                f"adopting the {self.what} {run_id} an earlier attempt "
                + ("sent" if posted else "was sending (sent again under the same key)")
            )
            return Plan("adopted" if posted else "sent_again", run_id, key, before)
        with within(self.deadline):
            head = self.client.get_findall_run(run_id, entities=False)
        if head.state in (RunState.FAILED, RunState.CANCELLED):
            raise Failure(
                description=f"FindAll run {run_id} (of {upstream}{self.where}) is "
                f"{head.state.value}: nothing can be added to it. Materialize {upstream} "
                f"again for a new run, then {self.layout.name}. Nothing was sent.",
                allow_retries=False,
            )
        if head.state is not RunState.COMPLETED:
            self.context.log.warning(
                f"FindAll run {run_id} is {head.state.value} (another enrich or extend?): "
                f"the credits it adds until this {self.phase.operation} ends count as this one's"
            )
        return Plan("sent", run_id, key, Before.of(head))

    # ------------------------------------------------------------ send and wait

    def send(self, plan: Plan) -> None:
        """The POST, recorded on the Dagster run before (with the credits before
        it) and after it is answered."""
        if self._run_terminated():
            raise RunTerminated(
                f"the Dagster run was terminated before the {self.what} {plan.run_id} was "
                "sent; nothing was sent",
                run_id=plan.run_id,
                final_state="not sent",
            )
        if plan.mode == "sent":
            self.book.record(plan, posted=False)
        try:
            with within(self.deadline):
                answer = self._post(plan)
        except ScoutDeadlineError:
            raise self._clean_up(plan) from None
        except BaseException as exc:
            # Interrupted while the POST was in flight: the phase may have begun.
            if not isinstance(exc, Exception) and self.resource.cancel_on_termination:
                self._clean_up(plan)
            raise
        self.book.record(plan, posted=True)
        self.context.log.info(
            f"sent the {self.what} {plan.run_id}{self.where} ({json.dumps(self.phase.body)}); "
            f"it is {answer.state.value}"
        )

    def _post(self, plan: Plan) -> FindAllRun:
        client, body = self.client, self.phase.body
        if self.phase.operation == "extend":
            additional = int(body["additional_limit"])
            return client.extend_findall_run(plan.run_id, additional, idempotency_key=plan.key)
        return client.enrich_findall_run(
            plan.run_id,
            fields=body.get("fields"),
            output_schema=body.get("output_schema"),
            idempotency_key=plan.key,
        )

    def _clean_up(self, plan: Plan) -> RunFailed:
        """A POST cut short may have started the phase: cancel the run unless it
        has ended (a follow with no time left does that), and say so."""
        follower = self.make_follower(self.layout.timeout_s, None, use_stream=False)
        try:
            # No time left: it looks, cancels unless the run has ended, and raises.
            follower.follow(FINDALL, plan.run_id, adopted=True, until=time.monotonic())
        except RunFailed as exc:
            return exc
        return RunDeadlineExceeded(
            f"the {self.what} {plan.run_id} was not answered within {self.deadline.why}; "
            "the run had ended, so it was not cancelled. Nothing was written",
            run_id=plan.run_id,
            final_state="unknown",
        )

    def wait(self, plan: Plan) -> FollowResult[FindAllRun]:
        """Follow the run to the end of the phase, by polling: a stream of a run
        that completed before replays that completion first."""
        budget = self.layout.credit_budget
        if plan.before is None:
            budget = None  # nothing of it is this materialization's
        elif budget is not None:
            budget += plan.before.credits  # the follower counts the run's credits
        self.follower = self.make_follower(self.layout.timeout_s, budget, use_stream=False)
        return self.follower.follow(
            FINDALL, plan.run_id, adopted=plan.mode != "sent", until=self.deadline.at
        )

    def read(self, result: FollowResult[FindAllRun], plan: Plan) -> _Read:
        """The final body, which must be completed and show the phase."""
        run_id = plan.run_id
        columns = self.phase.columns
        last: list[_Read] = []

        def read() -> _Read:
            head = self.client.get_findall_run(run_id, entities=False)
            body = fetch_run_body(self.client, run_id, columns)
            lacking = self._lacking(head, body, plan)
            done = body.state is not RunState.COMPLETED or not lacking
            last[:] = [_Read(head, body, body.state if done else RunState.RUNNING, lacking)]
            return last[0]

        try:
            return self.follower.read_final(result, read)
        except RunDeadlineExceeded as exc:
            if last and last[0].lacking:
                raise RunFailed(
                    f"FindAll run {run_id} completed, but its body does not show the "
                    f"{self.phase.operation} ({'; '.join(last[0].lacking)}); nothing was written",
                    run_id=run_id,
                    final_state="completed",
                    credits=last[0].body.facts.credits,
                ) from exc
            raise

    def _lacking(self, head: FindAllRun, body: FindAllBody, plan: Plan) -> tuple[str, ...]:
        """What a completed body lacks to be the run after the phase."""
        lacking: list[str] = []
        if self.phase.requested:
            properties = (head.output_schema or {}).get("properties") or {}
            echoed = {*(head.fields or []), *properties}
            missing = [name for name in self.phase.requested if name not in echoed]
            if missing:
                lacking.append(f"its fields do not name {', '.join(missing)}")
        before = plan.before
        if before is not None and before.state == RunState.COMPLETED.value:
            facts = body.facts
            earlier, now = _moment(before.completed_at), _moment(facts.completed_at)
            moved = (
                earlier is None
                or now is None
                or now > earlier
                or facts.credits > before.credits
                or facts.count > before.count
            )
            if not moved:
                lacking.append(
                    f"it still shows its completion of {before.completed_at}, from before the "
                    f"{self.phase.operation}"
                )
        return tuple(lacking)

    # ------------------------------------------------------------ results

    def added_credits(self, plan: Plan, credits: int, metadata: dict[str, Any]) -> int:
        if plan.before is None:
            return 0
        added = credits - plan.before.credits
        if added < 0:
            self.warn(
                metadata,
                f"FindAll run {plan.run_id}: {credits} credits after the {self.phase.operation}, "
                f"fewer than the {plan.before.credits} before it; scout/credits says 0",
            )
        return max(added, 0)

    def record_failure(self, exc: Exception, plan: Plan | None) -> None:
        """A phase that ended without tables may still have cost credits: said on
        the primary table as an observation (the runs ledger reads it)."""
        observation = self.book.failure_observation(exc, plan)
        if observation is not None:
            self._observe(observation)

    def failure(self, exc: Exception, plan: Plan | None) -> Failure:
        """The step's failure, in the phase's terms: what it cost, what to do next."""
        upstream = self.phase.upstream
        metadata: dict[str, Any] = {}
        text = f"{self.layout.name}: "
        if plan is not None:
            text += f"the {self.what} {plan.run_id}{self.where}: "
        if isinstance(exc, ScoutAPIError) and exc.status in (400, 404, 409, 422):
            text += "Scout refused it: "
        # The follower's words are of runs a retry replaces; a phase's run is the upstream's.
        text += str(exc).replace("; a retry starts a new run", "")
        if isinstance(exc, RunFailed):
            before = plan.before.credits if plan is not None and plan.before else 0
            cost = max((exc.credits or before) - before, 0)
            metadata = {
                "scout/run_id": MetadataValue.text(exc.run_id),
                "scout/final_state": MetadataValue.text(exc.final_state),
                "scout/credits": MetadataValue.int(cost),
            }
            if plan is not None and plan.before is not None:
                text += f". The {self.phase.operation} cost {cost} of those credits"
        if isinstance(exc, ScoutAPIError) or (
            isinstance(exc, RunFailed) and exc.final_state in ("cancelled", "failed")
        ):
            text += (
                f". A FindAll run that was cancelled or failed takes no {self.phase.operation} "
                f"(a cancel discards its result): materialize {upstream} again for a new run, "
                f"then {self.layout.name}"
            )
        return Failure(
            description=truncate(text, 4000),
            metadata=metadata,
            allow_retries=not isinstance(exc, RunTerminated),
        )


def _moment(value: str | dt.datetime | None) -> dt.datetime | None:
    """A time of the API's, comparable with any other (naive is taken as UTC)."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def materialize_phase(
    context: AssetExecutionContext, resource: "ScoutResource", phase: Phase
) -> Iterator[Output[Any] | AssetCheckResult]:
    """One materialization of an enrich or extend asset: both tables, then the checks."""
    layout = ScoutAssetLayout.of(context)
    execution = _PhaseExecution(context, resource, layout, phase)
    run_id = execution.book.upstream_run_id()
    plan: Plan | None = None
    try:
        plan = execution.plan(run_id)
        if plan.mode in ("sent", "sent_again"):
            execution.send(plan)
        result = execution.wait(plan)
        read = execution.read(result, plan)
    except (ScoutError, ValueError) as exc:
        execution.record_failure(exc, plan)
        raise execution.failure(exc, plan) from exc
    body = read.body
    try:
        final = with_body_status(result.run, body)
        provenance = execution.provenance(run_id, read.head.query or "", final)
        tables = body.tables(provenance)
        metadata = run_metadata(result, final)
        metadata.update(execution.book.metadata(plan))
        metadata["scout/run_credits"] = MetadataValue.int(final.credits)
        metadata["scout/credits"] = MetadataValue.int(
            execution.added_credits(plan, final.credits, metadata)
        )
        metadata["scout/entity_count"] = MetadataValue.int(tables.entities.num_rows)
        if plan.before is not None and phase.operation == "extend":
            metadata["scout/entities_added"] = MetadataValue.int(
                tables.entities.num_rows - plan.before.count
            )
        for name in phase.requested:
            column = tables.entities.column(name)
            if tables.entities.num_rows and column.null_count == tables.entities.num_rows:
                execution.warn(metadata, f"FindAll run {run_id}: no entity has a value for {name}")
        execution.check_credits(metadata, result, final)
        context.log.info(
            f"{phase.operation} of FindAll run {run_id} done: "
            f"{tables.entities.num_rows} entities, {tables.citations.num_rows} citations, "
            f"{metadata['scout/credits'].value} credits added ({final.credits} in all)"
        )
    except BaseException:
        close_if_spooled(body.entities)  # not handed on: its file goes now
        raise
    yield from execution.outputs(
        {"entities": tables.entities, "citations": tables.citations},
        metadata,
        provenance,
        checked=("entities", "entity_id"),
    )
