"""A FindAll run's body read once: checked to be the run asked for, parsed
into its facts and tables (:mod:`.tables.findall`), and the run's state and
figures taken from it.

The FindAll data path runs one way through it: :func:`fetch_run_body` has the
client download the body into a reader of it, parsed as it arrives; the
follower calls it through :func:`look_reader` (its first look at a completed
run), or keeps a terminal event's bytes; the Dagster layer takes the tables
with :func:`body_followed`, or reads a final body with :func:`fetch_run_body`,
and hands them to the IO manager. No Dagster here.
"""

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from ._client import ScoutClient
from ._errors import ScoutRunBodyError
from ._follower import FollowResult
from ._models import FindAllRun, RunState, RunStatus
from .tables.findall import FindAllBody, FindAllBodyReader, read_findall
from .tables.schemas import EntityColumn

__all__ = ["body_followed", "fetch_run_body", "look_reader", "read_run_body", "with_body_status"]


def fetch_run_body(
    client: ScoutClient, run_id: str, columns: Sequence[EntityColumn]
) -> FindAllBody:
    """The run's body, downloaded once and parsed as it arrives (never held
    whole), retried as the client retries; a body that is not this run's is
    read again. A body the fast read cannot take is downloaded again and
    read whole (:func:`read_run_body`), which decides."""
    body = client.read_findall_run(run_id, lambda: _RunBodyReader(run_id, columns))
    if body is not None:
        return body
    # Rare (values of other types than declared, cuts that did not parse), and
    # a second download of a body that may be large: the run's log says so.
    client.log.info(
        "FindAll run %s: its body did not fit the fast read (or its entities' spool file "
        "could not be written); downloading it again to read it whole in memory",
        run_id,
    )
    whole, _ = client.get_findall_run_body(
        run_id, check=lambda raw: read_run_body(raw, run_id, columns)
    )
    return whole


class _RunBodyReader(FindAllBodyReader):
    """A FindAll body reader whose body must be the run asked for."""

    def __init__(self, run_id: str, columns: Sequence[EntityColumn]) -> None:
        super().__init__(columns)
        self._run_id = run_id

    def finish(self) -> FindAllBody | None:
        return _of_run(super().finish, self._run_id)


def read_run_body(raw: bytes, run_id: str, columns: Any) -> FindAllBody:
    """The run's body, which must be the run asked for (else a ValueError: read again)."""
    body = _of_run(lambda: read_findall(raw, columns), run_id)
    assert body is not None  # read_findall always gives one
    return body


def _of_run(read: Callable[[], FindAllBody | None], run_id: str) -> FindAllBody | None:
    """What ``read`` gives, which must be run ``run_id``'s body (else a
    ValueError: read again); its unreadable contents are named after the run."""
    try:
        body = read()
    except ScoutRunBodyError as exc:
        raise ScoutRunBodyError(exc.detail, run_id=run_id) from None
    if body is not None and body.facts.run_id != run_id:
        raise ValueError(f"the body is run {body.facts.run_id}, not {run_id}")
    return body


def body_followed(
    result: FollowResult[FindAllRun], run_id: str, columns: Any
) -> FindAllBody | None:
    """The tables of the body following already downloaded (a first look found
    the run completed, read by :func:`look_reader`; or a terminal event's
    bytes), when that body is this run's and says completed; else None, and
    the run is read once more. What it held is freed once read."""
    taken = result.take_body()
    if isinstance(taken, bytes):
        try:
            taken = _read_kept(taken, run_id, columns)
        except ValueError:
            return None
    if not isinstance(taken, FindAllBody) or taken.facts.run_id != run_id:
        return None
    return taken if taken.facts.state is RunState.COMPLETED else None


def _read_kept(raw: bytes, run_id: str, columns: Sequence[EntityColumn]) -> FindAllBody:
    """Bytes already downloaded, read as a download is (a large body's
    entities go to disk as they are parsed, not into memory beside the
    bytes); read whole when the fast read cannot take them."""
    with contextlib.closing(_RunBodyReader(run_id, columns)) as reader:
        reader.feed(raw)
        body = reader.finish()
    return body if body is not None else read_run_body(raw, run_id, columns)


def look_reader(
    columns: Sequence[EntityColumn],
) -> Callable[[ScoutClient, str], tuple[FindAllRun, FindAllBody]]:
    """A look at a FindAll run that reads its body once, as tables: the state
    the follower needs and the tables come from one download and one parse."""

    def read(client: ScoutClient, run_id: str) -> tuple[FindAllRun, FindAllBody]:
        body = fetch_run_body(client, run_id, columns)
        facts = body.facts
        run = FindAllRun.model_validate(
            {"findall_id": facts.run_id, "error": facts.error, "createdAt": facts.created_at}
        )
        return with_body_status(run, body), body

    return read


def with_body_status(run: FindAllRun, body: FindAllBody) -> FindAllRun:
    """``run`` (as the events left it) with the figures and state of the body
    the tables come from."""
    facts = body.facts
    status = RunStatus(
        state=facts.state,
        termination_reason=facts.termination_reason,
        raw={"status": facts.state.value, "termination_reason": facts.termination_reason},
    )
    return run.model_copy(
        update={
            "status": status,
            "credits": facts.credits,
            "count": facts.count,
            "completed_at": facts.completed_at or run.completed_at,
        }
    )
