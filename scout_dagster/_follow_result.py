"""What following a run reports on the way (:class:`RunProgress`) and returns at
its end (:class:`FollowResult`)."""

from __future__ import annotations

import dataclasses
from typing import Any, Generic, Literal

from ._deadline import Deadline
from ._models import RunState
from ._run_kinds import RunT

__all__ = ["FollowResult", "RunProgress", "StopReason"]

StopReason = Literal["deadline", "budget", "terminated"]


@dataclasses.dataclass(frozen=True)
class RunProgress:
    """A snapshot for progress reports: ``items`` is entities (FindAll) or pages (search)."""

    run_id: str
    state: RunState
    items: int
    items_target: int | None
    credits: int
    elapsed_s: float


@dataclasses.dataclass(frozen=True)
class FollowResult(Generic[RunT]):
    """How a followed run ended.

    Attributes:
        run: the run as read from the server after it ended; a FindAll run
            without its entities and candidates (read the run for those).
        adopted: the run was started by an earlier attempt and adopted.
        waited_s: seconds from the start of following to the end.
        partial: we stopped it (``stop_reason``) and kept its partial result.
        stop_reason: ``"deadline"`` or ``"budget"`` when we cancelled it.
        followed_by: ``"stream"`` or ``"poll"`` (the stream was unavailable).
        credits_seen: the most credits any read of the run reported.

    :meth:`take_body` hands over the completed run's whole body when following
    already downloaded it (a first look found the run completed), once.
    """

    run: RunT
    adopted: bool
    waited_s: float
    partial: bool = False
    stop_reason: StopReason | None = None
    followed_by: Literal["stream", "poll"] = "stream"
    credits_seen: int = 0
    #: The deadline of the final read (:meth:`RunFollower.read_final`); internal.
    _read_by: Deadline | None = dataclasses.field(default=None, repr=False)
    #: The completed run's body, until taken (a list: the result is frozen):
    #: its bytes, or what ``read_findall_look`` read of them.
    _body: list[Any] = dataclasses.field(default_factory=list, repr=False, compare=False)

    def take_body(self) -> Any:
        """The completed run's body if following downloaded it (its bytes, or
        what ``read_findall_look`` made of them); None after the first call,
        so what it holds is freed once used."""
        return self._body.pop() if self._body else None
