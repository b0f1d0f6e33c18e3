"""RunFollower on its own, against the emulator: a FindAll run is watched by
its stream or by polling, and never read with its entities while watched."""

from __future__ import annotations

import pytest

from scout_dagster import FindAllRequest, RunFollower, RunState
from scout_dagster.emulator import EmulatorServer
from tests.conftest import make_client


@pytest.mark.parametrize("use_stream", [True, False], ids=["stream", "poll"])
def test_a_followed_findall_run_comes_back_without_its_entities(
    use_stream: bool, emulator: EmulatorServer
) -> None:
    client, _ = make_client(emulator)
    follower = RunFollower(client, deadline_s=60, poll_interval_s=0.05, use_stream=use_stream)
    result = follower.run_findall(FindAllRequest("AI infrastructure companies", limit=6))
    assert result.followed_by == ("stream" if use_stream else "poll")
    final = client.get_findall_run(result.run.findall_id)
    assert final.entities and final.count == 6
    assert result.run.state is RunState.COMPLETED
    assert result.run.entities == [] and result.run.candidates is None
    assert (result.run.count, result.run.credits) == (final.count, final.credits)
