"""Which failures are retried, and how long to wait: one tenacity policy for every call.

Retrying a POST is safe here only because every non-GET carries an
``Idempotency-Key`` that stays the same across its attempts (``_client.py``).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception

from ._config import RetryPolicy
from ._deadline import current_deadline
from ._errors import (
    ScoutAPIError,
    ScoutDeadlineError,
    ScoutError,
    ScoutRateLimitError,
    ScoutServerError,
    ScoutTransportError,
)

__all__ = ["call_with_retries", "is_retryable"]

log = logging.getLogger("scout_dagster.client")

T = TypeVar("T")

#: Statuses worth another attempt (as Scout's SDKs do): timeouts, conflicts
#: (an Idempotency-Key still in flight), rate limits, server errors.
RETRYABLE_STATUSES = frozenset({408, 409, 429})


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, ScoutDeadlineError):
        return False  # no time is left for another attempt
    if isinstance(exc, ScoutTransportError):
        return True
    if isinstance(exc, ScoutAPIError):
        return exc.status in RETRYABLE_STATUSES or exc.status >= 500
    return False


def _retry_after_s(exc: BaseException | None) -> float | None:
    if isinstance(exc, ScoutRateLimitError | ScoutServerError):
        return exc.retry_after_s
    return None


class _Schedule:
    """When to stop and how long to wait, for one logical request.

    Waits: ``Retry-After`` when the server sent a usable one (at least
    ``min_retry_after_s``, at most ``max_retry_after_s``), else jittered
    exponential backoff. Stops: after ``max_attempts`` failures, when the
    next wait would bring the time waited (or elapsed) to ``total_budget_s``,
    or when it would end past the current deadline (tenacity works out the
    wait before it asks whether to stop). A 429 that says when to come back is
    the server pacing us, not a failure: it does not use up an attempt, only
    time, so a backfill that meets a creation cap waits its turn instead of
    failing. A ``Retry-After`` of zero, a past date or garbage says nothing
    (``parse_retry_after`` gives None): it is a failure like any other.
    """

    def __init__(self, policy: RetryPolicy, rng: random.Random) -> None:
        self._policy = policy
        self._rng = rng
        self._paced = 0  # 429s with Retry-After so far
        self._waited_s = 0.0
        self.out_of_time = False

    def stop(self, state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, ScoutRateLimitError) and exc.retry_after_s is not None:
            self._paced += 1
        budget = self._policy.total_budget_s
        if budget is not None and max(self._waited_s, state.seconds_since_start or 0.0) >= budget:
            return True
        deadline = current_deadline()
        if deadline is not None and deadline.remaining() <= state.upcoming_sleep:
            self.out_of_time = True  # the wait would outlast the deadline: give up now
            return True
        return state.attempt_number - self._paced >= self._policy.max_attempts

    def wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = _retry_after_s(exc)
        if retry_after is not None:
            delay = min(
                max(retry_after, self._policy.min_retry_after_s), self._policy.max_retry_after_s
            )
        else:
            failures = max(state.attempt_number - self._paced, 1)
            delay = self._policy.backoff_s(failures, self._rng.random())
        self._waited_s += delay
        return delay


def call_with_retries(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    describe: str,
    sleep: Callable[[float], None],
    rng: random.Random | None = None,
    log: logging.Logger = log,
) -> T:
    """Call ``fn`` until it succeeds, fails for good, or the policy is spent.

    The last error is re-raised as it was (never wrapped in tenacity's
    ``RetryError``), so callers see the server's own status and message.
    Each retry is reported to ``log`` (a Dagster step's log: in the run's log)
    with the endpoint, the error (its status and the server's message), the
    wait and the attempt.
    """
    schedule = _Schedule(policy, rng or random.Random())

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "%s failed (%s); retrying in %.1f s (attempt %d of %d)",
            describe,
            exc,
            delay,
            state.attempt_number + 1,
            policy.max_attempts,
        )

    retrying = Retrying(
        stop=schedule.stop,
        wait=schedule.wait,
        retry=retry_if_exception(is_retryable),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return retrying(fn)
    except ScoutError as exc:
        if not schedule.out_of_time:
            raise
        raise ScoutDeadlineError(
            f"gave up after {exc}: the deadline would pass before the next attempt",
            method=getattr(exc, "method", ""),
            path=getattr(exc, "path", describe),
        ) from exc
