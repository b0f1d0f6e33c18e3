"""What the hostile server (:mod:`.server`) knows: the scenario of
misbehaviours a test switches on, the requests it received, and its runs and
monitors. Standard library only."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from typing import Any, Literal

Kind = Literal["findall", "search"]
CREATES: dict[str, Kind] = {"/v1/findall/runs": "findall", "/v1/search": "search"}
RUN_CALLS = (("GET", ()), ("GET", ("events",)), ("POST", ("cancel",)))
REASONS = {
    "completed": "match_limit_met",
    "cancelled": "user_cancelled",
    "failed": "error_occurred",
}


@dataclasses.dataclass
class Scenario:
    """The misbehaviours to switch on; all off by default."""

    run_s: float = 0.3  # real seconds from a run's create to its end
    idempotent: bool = True  # honour Idempotency-Key on creates
    # After a FindAll run completes its GETs say this ("running" with 3 entities,
    # "cancelled" with none, "failed" with an error) while its stream says completed.
    final_get_state: Literal["running", "cancelled", "failed"] | None = None
    # GETs after completion that lie before the truth (0: forever); for
    # final_get_state and search_body_after_completed.
    flap_gets: int = 0
    search_body_after_completed: bool = False  # stream: run.completed; GETs: running, no results
    trickle_body_s: float | None = None  # a completed run's GET body: one byte per this many s
    slow_get_s: float | None = None  # every GET of a run (not its stream) waits this long first
    no_stream: bool = False  # event streams answer 503
    echo_key: bool = False  # x-request-id: req-<bearer key>; failed runs' error names the key
    fail_runs: bool = False  # runs end failed instead of completed
    run_id: str | None = None  # the id every created run gets, e.g. "../../v1/evil?x=1#frag"
    retry_after: str | None = None  # Retry-After sent on 429 answers to creates
    rate_limit_creates: int = 0  # creates answered 429 first (0: none, -1: all)
    huge_error_bytes: int = 0  # creates answer 500 with a detail this many chars long...
    error_times: int = -1  # ...this many times (-1: always), then normally
    count_mismatch: int = 0  # the completed FindAll body's count is off by this much
    credits_sequence: list[int] | None = None  # credits successive GETs/status events report
    keepalive_s: float = 0.1  # seconds between keep-alive comments on event streams
    first_run_s: float | None = None  # the first run created takes this long instead of run_s
    cancel_takes_s: float = 0.0  # a cancel takes effect this long after it is received
    cancel_failures: int = 0  # cancels answered 503 first (-1: all), before one is accepted
    slow_create_s: float = 0.0  # a create makes its run at once, then answers this much later
    no_sources: bool = False  # FindAll entities name no source page
    # A run stays running until its event stream is first opened; its run_s
    # count from then: "still going at the first look" whatever the machine's speed.
    runs_until_watched: bool = False
    # ---- Monitors (echo_key also applies: x-request-id, a failed event's error,
    # a 404's detail all name the bearer key)
    event_ids: list[str] | None = None  # ids successive monitor events get, then mev-NNNNNN
    wrap_lists: str | None = None  # list answers as {<this>: [...]} instead of a bare array
    unknown_events: int = 0  # events of unknown types stored (and listed) before each event
    flap_events: int = 0  # the first 2*n event-list reads: odd ones leave out their newest item
    ignore_after: bool = False  # event lists ignore after= and limit=: the whole list each time
    events_failures: list[int] = dataclasses.field(default_factory=list)  # statuses of the
    # first event-list reads (then normal answers); 429 and 503 carry Retry-After:
    events_retry_after: str | None = "1"
    stream_drops: bool = False  # an event stream closes right after each event it sends
    # FindAll status events carry the run without its entities and candidates, so
    # the tables can only come from a read of the run (its final GET).
    status_events_without_entities: bool = False
    trickle_events_s: float | None = None  # event lists and stream frames: a byte per this many s
    delete_answers_204: bool = False  # DELETE /v1/monitors/{id} answers 204 with no body


@dataclasses.dataclass(frozen=True)
class RequestRecord:
    method: str
    raw_path: str  # exactly as on the request line
    headers: dict[str, str]  # names lower-cased
    body: bytes
    at: float  # time.monotonic()


@dataclasses.dataclass
class Run:
    kind: Kind
    run_id: str
    request: dict[str, Any]
    created: float = dataclasses.field(default_factory=time.monotonic)
    created_wall: float = dataclasses.field(default_factory=time.time)
    duration: float = 0.3  # real seconds from its create (or being watched) to its end
    watched: float | None = None  # when its event stream was first opened
    cancelled_at: float | None = None  # when its cancel takes (or took) effect
    reports: int = 0  # GETs and status events so far (credits_sequence)
    gets_after_end: int = 0  # GETs after completion (flap_gets)


@dataclasses.dataclass
class Monitor:
    monitor_id: str
    request: dict[str, Any]
    status: str = "active"
    created_wall: float = dataclasses.field(default_factory=time.time)
    last_run_wall: float | None = None
    credits: int = 0
    deleted: bool = False
    # Every event, oldest first, those of unknown types included.
    events: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def iso(wall: float) -> str:
    return dt.datetime.fromtimestamp(wall, dt.UTC).isoformat().replace("+00:00", "Z")


class Abort(Exception):
    """Drop the connection without (finishing) an answer."""
