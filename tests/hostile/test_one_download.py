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
import pytest
from dagster import materialize

from scout_dagster import ScoutParquetIOManager, ScoutResource, build_findall_assets
from scout_dagster.emulator import EmulatorServer
from scout_dagster.tables import json_reader, spool
from tests.conftest import TEST_KEY
from tests.hostile.run_support import KEY, ROWS, findall_assets, resources
from tests.hostile.server import HostileServer, Scenario


@pytest.fixture(params=["in memory", "spooled"])
def read_as(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The body read as a small one is, or as a large one: in pieces, its
    entities spooled to disk (a batch a row: a row group each in Parquet)."""
    if request.param == "spooled":
        monkeypatch.setattr(json_reader, "SPLIT_MIN_BYTES", 0)
        monkeypatch.setattr(json_reader, "PIECE_BYTES", 1)
        monkeypatch.setattr(spool, "IN_MEMORY_BYTES", 0)
        monkeypatch.setattr(spool, "BATCH_ROWS", 1)
        (tmp_path / "spool").mkdir()
        monkeypatch.setenv(spool.SPOOL_DIR_ENV, str(tmp_path / "spool"))
    return str(request.param)


def written_as(read_as: str, tmp_path: Path) -> None:
    """The entities are whole, written the way ``read_as`` says, no spool left."""
    file = pq.ParquetFile(tmp_path / "ai_entities" / "data.parquet")
    assert file.metadata.num_rows == ROWS
    assert file.num_row_groups == (ROWS if read_as == "spooled" else 1)
    if read_as == "spooled":
        assert not list((tmp_path / "spool").iterdir()), "a spool file was left behind"


def test_a_run_completed_at_its_first_look_is_read_once(tmp_path: Path, read_as: str) -> None:
    with HostileServer(KEY, Scenario(run_s=0.05, slow_create_s=0.2)) as server:
        result = materialize([findall_assets()], resources=resources(server, tmp_path))
        assert result.success
        [run_id] = server.run_ids
        reads = [r for r in server.requests if r.method == "GET" and run_id in r.raw_path]
    assert [r.raw_path.split("?")[0].rsplit("/", 1)[-1] for r in reads] == [run_id]
    written_as(read_as, tmp_path)


def test_a_run_still_going_at_its_first_look_is_read_from_its_terminal_event(
    tmp_path: Path, read_as: str
) -> None:
    # Running until the stream opens: the first look cannot find it over,
    # however long the step takes to make it.
    with HostileServer(KEY, Scenario(run_s=0.2, runs_until_watched=True)) as server:
        result = materialize([findall_assets()], resources=resources(server, tmp_path))
        assert result.success
        [run_id] = server.run_ids
        paths = [r.raw_path for r in server.requests if r.method == "GET" and run_id in r.raw_path]
    # The look after the create, then the stream, whose terminal event carries
    # the completed run: its tables come from that event, not from a third read.
    assert [p.split("?")[0].rsplit("/", 1)[-1] for p in paths] == [run_id, "events"]
    written_as(read_as, tmp_path)


def test_the_emulators_nested_terminal_event_is_the_body_too(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    """The emulator sends status events nested (``{"type", ..., "data": run}``)."""
    assets = build_findall_assets("ai", "AI infrastructure companies", limit=ROWS)
    result = materialize(
        [assets],
        resources={
            "scout": ScoutResource(api_key=TEST_KEY, base_url=emulator.url),
            "scout_io_manager": ScoutParquetIOManager(base_path=str(tmp_path)),
        },
    )
    assert result.success
    [run] = emulator.ledger.runs()
    gets = [r.path for r in emulator.ledger.requests if r.method == "GET"]
    assert gets == [f"/v1/findall/runs/{run.run_id}", f"/v1/findall/runs/{run.run_id}/events"]
    table = pq.read_table(tmp_path / "ai_entities")
    assert table.num_rows == ROWS and set(table.column("run_id").to_pylist()) == {run.run_id}
