"""FindAll run records: request, progress, credits, extend, enrich and cancel.

A FindAll run processes its query's candidates (``_candidates``) up to the
match limit over a running phase; extend and enrich plan further phases after
the current one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from ._candidates import Verdict, WorldCandidate, findall_candidates
from ._field_values import FINDALL_DEFAULT_FIELDS
from ._run_common import ACTIVE_STATES, RunState, Summary, Timings, fold
from ._timeline import (
    CandidateEnriched,
    CandidateGenerated,
    CandidateJudged,
    Entry,
    ErrorRaised,
    Event,
    Finished,
    PhaseStarted,
    Timeline,
    UnknownNotice,
    heartbeats,
    in_time_order,
    spread,
)

__all__ = [
    "ENRICHMENT_CREDITS",
    "FINDALL_CREDITS_PER_MATCH",
    "FINDALL_FIXED_CREDITS",
    "Enrichment",
    "FindAllProgress",
    "FindAllRun",
    "FindAllSpec",
    "RunNotChangeable",
]

Json = Any
Generator = Literal["base", "core", "pro"]

# Credits (an [assumed] price list, checked against the vendor's FindAll
# example: 2 base-generator matches cost 7 = 5 fixed + 2 x 1).
FINDALL_FIXED_CREDITS = 5
FINDALL_CREDITS_PER_MATCH: dict[str, int] = {"base": 1, "core": 2, "pro": 4}
# Each candidate enriched by an enrich call costs one credit.
ENRICHMENT_CREDITS = 1

FINDALL_FAILURE_MESSAGE = "Upstream crawler error while expanding candidates"


class RunNotChangeable(Exception):
    """Extend or enrich asked of a run that has failed or been cancelled."""


@dataclass(frozen=True)
class FindAllSpec:
    """What a FindAll create asked for."""

    query: str
    fields: tuple[str, ...] | None
    output_schema: dict[str, Json] | None
    limit: int | None
    generator: Generator
    metadata: dict[str, Json] | None

    @property
    def base_fields(self) -> tuple[str, ...]:
        """Fields every entity carries: the requested ones, or the defaults without a schema."""
        if self.fields:
            return self.fields
        return () if self.output_schema else FINDALL_DEFAULT_FIELDS


@dataclass(frozen=True)
class Enrichment:
    """One enrich call: fields or schema properties added to matched entities."""

    requested_at: float
    fields: tuple[str, ...]
    output_schema: dict[str, Json] | None

    @property
    def names(self) -> tuple[str, ...]:
        properties = (self.output_schema or {}).get("properties") or {}
        return tuple(dict.fromkeys([*self.fields, *properties]))


@dataclass
class FindAllProgress:
    """A FindAll run folded at one moment."""

    state: RunState = "queued"
    reason: str | None = None
    error: str | None = None
    finished_at: float | None = None
    generated: list[int] = field(default_factory=list)  # seqs, in order
    verdicts: dict[int, Verdict] = field(default_factory=dict)
    enriched: dict[int, list[int]] = field(default_factory=dict)  # seq -> enrichments
    enrichment_count: int = 0

    @property
    def matched(self) -> list[int]:
        return [seq for seq in self.generated if self.verdicts.get(seq) == "matched"]

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    def apply(self, event: Event) -> None:
        match event:
            case PhaseStarted(state=state):
                self.state = state
            case CandidateGenerated(seq=seq):
                self.generated.append(seq)
            case CandidateJudged(seq=seq, verdict=verdict):
                self.verdicts[seq] = verdict
            case CandidateEnriched(seq=seq, enrichment=index):
                self.enriched.setdefault(seq, []).append(index)
                self.enrichment_count += 1
            case ErrorRaised(message=message):
                self.error = message
            case Finished(time=time, state=state, reason=reason, error=error):
                self.state, self.reason, self.finished_at = state, reason, time
                self.error = error or self.error
            case _:
                pass


class FindAllRun:
    """A FindAll run: its request, its planned timeline and the calls made on it."""

    kind: Literal["findall"] = "findall"

    def __init__(
        self,
        *,
        run_id: str,
        owner: str,
        spec: FindAllSpec,
        created_at: float,
        timings: Timings,
        synchronous: bool,
        fails: bool,
        unknown_events: bool,
        idempotency_key: str | None,
        request_body: dict[str, Json],
    ) -> None:
        self.run_id = run_id
        self.owner = owner  # fingerprint of the API key that created it
        self.spec = spec
        self.created_at = created_at
        self.timings = timings
        self.fails = fails
        self.unknown_events = unknown_events
        self.idempotency_key = idempotency_key
        self.request_body = request_body
        self.limit = spec.limit
        self.enrichments: list[Enrichment] = []
        self.cancel_calls = 0
        self.cancelled_while_active = False
        self.candidates = findall_candidates(spec.query)
        self.timeline = Timeline()
        self._planned = 0  # candidates planned for processing so far

        queued_s = 0.0 if synchronous else timings.queued_s
        running_s = 0.0 if synchronous else timings.findall_running_s
        self.timeline.add([PhaseStarted(created_at, "queued")])
        self.timeline.add([PhaseStarted(created_at + queued_s, "running")])
        self._plan_running(created_at + queued_s, running_s, fail=fails)

    # -- reading ---------------------------------------------------------------

    def progress(self, at: float) -> FindAllProgress:
        """The run folded at virtual time ``at``."""
        return self.progress_of(self.timeline.until(at))

    @staticmethod
    def progress_of(entries: Iterable[Entry]) -> FindAllProgress:
        return fold(FindAllProgress(), entries)

    def credits(self, progress: FindAllProgress) -> int:
        """Credits accrued so far; kept in full when the run is cancelled or fails."""
        per_match = FINDALL_CREDITS_PER_MATCH[self.spec.generator]
        return (
            FINDALL_FIXED_CREDITS
            + per_match * len(progress.matched)
            + ENRICHMENT_CREDITS * progress.enrichment_count
        )

    def summary(self, at: float) -> Summary:
        progress = self.progress(at)
        return Summary(progress.state, self.credits(progress))

    def candidate(self, seq: int) -> WorldCandidate:
        return self.candidates[seq]

    def enrichments_at(self, at: float) -> list[Enrichment]:
        return [e for e in self.enrichments if e.requested_at <= at]

    # -- planning --------------------------------------------------------------

    def _target(self) -> int:
        """How many candidates the run processes to reach its match limit."""
        if self.limit is None:
            return len(self.candidates)
        matched = 0
        for position, candidate in enumerate(self.candidates):
            matched += candidate.verdict == "matched"
            if matched >= self.limit:
                return position + 1
        return len(self.candidates)

    def _termination_reason(self) -> str:
        matched = sum(c.verdict == "matched" for c in self.candidates[: self._planned])
        limit_met = self.limit is not None and matched >= self.limit
        return "match_limit_met" if limit_met else "candidates_exhausted"

    def _plan_running(self, start: float, duration: float, *, fail: bool) -> None:
        """Plan a running phase that processes the candidates up to the match limit."""
        first, last = self._planned, self._target()
        self._planned = last
        events: list[Event] = []
        for seq, time in zip(
            range(first, last), spread(start, duration, last - first), strict=True
        ):
            verdict = self.candidates[seq].verdict
            events += [CandidateGenerated(time, seq), CandidateJudged(time, seq, verdict)]
            if verdict == "matched":
                # Enrichments asked for earlier apply to later matches at once.
                events += [CandidateEnriched(time, seq, i) for i in range(len(self.enrichments))]
        events += heartbeats(start, duration, self.timings.heartbeat_s)
        if self.unknown_events:
            events += [UnknownNotice(start, "findall.plan.updated")]
            events += [UnknownNotice(start + duration / 2, "findall.plan.updated")]
        self._add_phase(events, start, duration, fail=fail)

    def _add_phase(self, events: list[Event], start: float, duration: float, *, fail: bool) -> None:
        if fail:
            # A failing run dies halfway through its running phase.
            failed_at = start + duration / 2
            events = [e for e in events if e.time < failed_at]
            message = FINDALL_FAILURE_MESSAGE
            ending: list[Event] = [
                ErrorRaised(failed_at, message),
                Finished(failed_at, "failed", "error_occurred", message),
            ]
        else:
            ending = [Finished(start + duration, "completed", self._termination_reason())]
        self.timeline.add(in_time_order(events) + ending)

    def _resume_at(self, at: float) -> float | None:
        """Where a new phase starts: after the planned finish, or now if completed.

        Returns ``None`` when the run is bound to fail anyway (nothing to re-plan).
        Raises ``RunNotChangeable`` for a failed or cancelled run.
        """
        state = self.progress(at).state
        if state in ("failed", "cancelled"):
            raise RunNotChangeable(f"FindAll run {self.run_id} is {state}")
        finish = self.timeline.planned_finish(at)
        if finish is not None and finish.state == "failed":
            return None
        if finish is not None:
            return self.timeline.drop_planned_finish(at)
        self.timeline.add([PhaseStarted(at, "running")])
        return at

    # -- operations ------------------------------------------------------------

    def extend(self, at: float, additional_limit: int) -> None:
        """Raise the match limit; further entities arrive over another running phase."""
        start = self._resume_at(at)
        if self.limit is not None:
            self.limit += additional_limit
        if start is not None:
            self._plan_running(start, self.timings.findall_running_s, fail=False)

    def enrich(self, at: float, enrichment: Enrichment) -> None:
        """Add fields to every matched entity over a short enrichment phase."""
        start = self._resume_at(at)
        self.enrichments.append(enrichment)
        if start is None:
            return
        index = len(self.enrichments) - 1
        matched = [s for s in range(self._planned) if self.candidates[s].verdict == "matched"]
        duration = self.timings.enrich_s
        times = spread(start, duration, len(matched))
        events: list[Event] = [
            CandidateEnriched(time, seq, index) for seq, time in zip(matched, times, strict=True)
        ]
        events += heartbeats(start, duration, self.timings.heartbeat_s)
        self._add_phase(events, start, duration, fail=False)

    def cancel(self, at: float) -> bool:
        """Stop the run at ``at`` (its next checkpoint); returns whether it was active."""
        self.cancel_calls += 1
        if not self.progress(at).is_active:
            return False
        self.cancelled_while_active = True
        self.timeline.truncate_after(at)
        self.timeline.add([Finished(at, "cancelled", "user_cancelled")])
        return True
