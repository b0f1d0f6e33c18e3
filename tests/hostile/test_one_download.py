"""A FindAll run found completed at its first look is downloaded once.

The look after the create reads the whole body anyway (it is the run object);
when it says completed, the tables come from those bytes: no event stream is
opened and the run is not read again. Against the hostile server, which can
answer a create after the run it made has ended (``slow_create_s`` longer
than ``run_s``, both the server's own times): the first look finds it over.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from dagster import materialize

from tests.hostile.server import HostileServer, Scenario
from tests.hostile.test_hostile import KEY, ROWS, findall_assets, resources


def test_a_run_completed_at_its_first_look_is_read_once(tmp_path: Path) -> None:
    with HostileServer(KEY, Scenario(run_s=0.05, slow_create_s=0.2)) as server:
        result = materialize([findall_assets()], resources=resources(server, tmp_path))
        assert result.success
        [run_id] = server.run_ids
        reads = [r for r in server.requests if r.method == "GET" and run_id in r.raw_path]
    assert [r.raw_path.split("?")[0].rsplit("/", 1)[-1] for r in reads] == [run_id]
    assert pq.read_table(tmp_path / "ai_entities").num_rows == ROWS


def test_a_run_still_going_at_its_first_look_is_followed_and_read_at_its_end(
    tmp_path: Path,
) -> None:
    with HostileServer(KEY, Scenario(run_s=0.5)) as server:
        result = materialize([findall_assets()], resources=resources(server, tmp_path))
        assert result.success
        [run_id] = server.run_ids
        paths = [r.raw_path for r in server.requests if r.method == "GET" and run_id in r.raw_path]
    assert any(p.split("?")[0].endswith("/events") for p in paths)  # followed
    assert pq.read_table(tmp_path / "ai_entities").num_rows == ROWS
