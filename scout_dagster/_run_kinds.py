"""The two kinds of run a follower follows, FindAll and search: the calls that differ.

The waiting logic (:mod:`scout_dagster._follower`) is shared; a
:class:`RunKind` holds what it calls for one kind of run.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._client import ScoutClient
from ._errors import ScoutError, ScoutRunBodyError
from ._events import FindAllEvent, SearchEvent
from ._models import FindAllRun, RunState, SearchRun

if TYPE_CHECKING:
    from ._follow_settings import FollowSettings

__all__ = ["DEAD", "FINDALL", "SEARCH", "EventT", "RunKind", "RunT", "look_with_body"]

log = logging.getLogger("scout_dagster.follower")

RunT = TypeVar("RunT", FindAllRun, SearchRun)
EventT = TypeVar("EventT", FindAllEvent, SearchEvent)
#: States after which a run has no result to adopt.
DEAD = frozenset({RunState.FAILED, RunState.CANCELLED})


@dataclasses.dataclass(frozen=True)
class RunKind(Generic[RunT, EventT]):
    """The calls that differ between FindAll and search runs; the waiting logic is shared."""

    name: str
    get: Callable[[ScoutClient, str], RunT]
    #: A read of the run with its whole body's bytes, when the kind has a
    #: reader of them (FindAll): a run found completed is not downloaded again.
    look: Callable[[ScoutClient, str], tuple[RunT, bytes | None]]
    cancel: Callable[[ScoutClient, str], RunT]
    #: The run's event stream (client, run id, last event id, stop).
    events: Callable[[ScoutClient, str, str | None, threading.Event], Iterator[EventT]]
    #: Search keeps what it gathered when cancelled; FindAll discards it.
    keeps_partial_on_cancel: bool
    #: The cancel's path, for a person to send by hand when ours failed.
    cancel_path: str


FINDALL: RunKind[FindAllRun, FindAllEvent] = RunKind(
    name="FindAll",
    # Following needs the run's status and figures, never its entities: they
    # are skipped unread (a million of them is ~200 MB on every heartbeat).
    get=lambda client, run_id: client.get_findall_run(run_id, entities=False),
    look=lambda client, run_id: client.get_findall_run_raw(run_id),
    cancel=lambda client, run_id: client.cancel_findall_run(run_id),
    events=lambda client, run_id, last, stop: client.stream_findall_events(
        run_id, last_event_id=last, entities=False, stop=stop
    ),
    keeps_partial_on_cancel=False,
    cancel_path="/v1/findall/runs/{run_id}/cancel",
)
SEARCH: RunKind[SearchRun, SearchEvent] = RunKind(
    name="search",
    get=lambda client, run_id: client.get_search_run(run_id),
    look=lambda client, run_id: (client.get_search_run(run_id), None),
    cancel=lambda client, run_id: client.cancel_search_run(run_id),
    events=lambda client, run_id, last, stop: client.stream_search_events(
        run_id, last_event_id=last, stop=stop
    ),
    keeps_partial_on_cancel=True,
    cancel_path="/v1/searches/{run_id}/cancel",
)


def look_with_body(
    settings: FollowSettings, kind: RunKind[RunT, EventT], run_id: str
) -> tuple[RunT, Any]:
    """The run, and its body as read (bytes, or the caller's reading of them)."""
    reader = settings.read_findall_look
    if kind is not FINDALL or reader is None:
        return kind.look(settings.client, run_id)
    try:
        return reader(settings.client, run_id)  # type: ignore[return-value]
    except ScoutRunBodyError as exc:
        why: Exception = exc
    except ScoutError:
        raise  # the call itself failed (after its retries): not a reading to work around
    except Exception as exc:
        why = exc
    log.info("reading FindAll run %s's body as tables failed (%s); its head", run_id, why)
    return kind.look(settings.client, run_id)
