"""The settings of a follower, as its parts read them.

:class:`~scout_dagster._follower.RunFollower` is one: its settings are public
attributes, and its parts read them when they use them, so a change to one
holds from the next use on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ._client import ScoutClient
from ._follow_result import RunProgress
from ._models import FindAllRun

__all__ = ["FollowSettings", "was_terminated"]


class FollowSettings(Protocol):
    """What each setting means: see :class:`~scout_dagster._follower.RunFollower`.

    ``_clock`` and ``_sleep`` are its monotonic seconds and its sleep (set
    once, injectable for tests): private to the follower and its parts.
    """

    client: ScoutClient
    deadline_s: float | None
    credit_budget: int | None
    keep_partial: bool
    cancel_on_error: bool
    use_stream: bool
    poll_interval_s: float
    max_poll_interval_s: float
    progress_interval_s: float
    cancel_grace_s: float
    terminated: Callable[[], bool] | None
    cancel_on_termination: bool
    on_progress: Callable[[RunProgress], None] | None
    on_cancelled: Callable[[str], None] | None
    read_findall_look: Callable[[ScoutClient, str], tuple[FindAllRun, Any]] | None
    _clock: Callable[[], float]
    _sleep: Callable[[float], None]


def was_terminated(settings: FollowSettings) -> bool:
    """Whether the caller's own run was terminated (its ``terminated`` says yes)."""
    return settings.terminated is not None and settings.terminated()
