"""Secret hygiene: the API key never leaves the Authorization header.

A recognizable key is used for real runs against an emulator that accepts it,
under a real Dagster instance in a temporary ``DAGSTER_HOME``. Afterwards the
key is searched for everywhere it could have gone: stdout/stderr, every Python
log record (DEBUG, every logger), the event log, run storage (every file, and
every row of its SQLite databases, decompressed when compressed), the
materializations' metadata, the Parquet files (decoded: they are zstd) and
``report.md``, the exceptions and tracebacks of failed runs, and the reprs of
the resource and its clients. Each case runs with the key given literally and
through ``EnvVar("SCOUT_API_KEY")``.
"""

# No `from __future__ import annotations`: Dagster reads the probe asset's context
# annotation when it is defined, so annotations must stay real objects.

import logging
import sqlite3
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import (
    AssetExecutionContext,
    DagsterInstance,
    asset,
    materialize,
)

from scout_dagster import (
    ScoutResource,
    build_findall_assets,
    build_search_assets,
)
from scout_dagster.emulator import EmulatorServer
from tests.secrets.support import (
    KEY,
    QUERY,
    SNAPSHOTS_TABLE,
    KeyScan,
    resources,
    scan_result,
    scan_run,
)

# ---------------------------------------------------------------- the scan itself


def test_the_scan_finds_the_key_wherever_it_hides(tmp_path: Path) -> None:
    """The leak checks below are only as good as the scan; it must see through
    compression (zstd Parquet, zlib snapshots) and exception chains."""
    root = tmp_path / "root"
    root.mkdir()
    # Without statistics (whose min/max sit uncompressed in the footer) the key
    # is only in zstd pages: invisible to a byte search, visible to the decoded scan.
    notes = [f"row {i}: key {KEY}" for i in range(50)]
    pq.write_table(
        pa.table({"note": notes}),
        root / "data.parquet",
        compression="zstd",
        write_statistics=False,
    )
    assert KEY.encode() not in (root / "data.parquet").read_bytes()
    connection = sqlite3.connect(root / "runs.db")
    connection.execute("CREATE TABLE snapshots (body BLOB)")
    connection.execute("INSERT INTO snapshots VALUES (?)", (zlib.compress(KEY.encode() * 3),))
    connection.commit()
    connection.close()
    scan = KeyScan()
    scan.files(root)
    try:
        try:
            raise RuntimeError(f"inner {KEY}")
        except RuntimeError as inner:
            raise ValueError("outer") from inner
    except ValueError as outer:
        scan.exception("raised", outer)
    scan.text("clean", "nothing to see")
    places = [f.split(":")[0] for f in scan.found]
    assert places == [
        "root/data.parquet (rows)",
        "root/runs.db table snapshots (zlib)",
        "raised traceback",
        "raised str(RuntimeError)",
        "raised repr(RuntimeError)",
    ]


# ---------------------------------------------------------------- successful runs


def test_successful_findall_and_search_runs_never_show_the_key(
    emulator: EmulatorServer,
    scout: ScoutResource,
    dagster_home: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog_everything: pytest.LogCaptureFixture,
) -> None:
    seen_in_run: list[str] = []

    @asset(required_resource_keys={"scout"})
    def scout_probe(context: AssetExecutionContext) -> None:
        resource = context.resources.scout
        client = resource.get_client()
        seen_in_run.extend([repr(resource), str(resource), repr(client), str(client)])

    scan = KeyScan()
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        results = [
            materialize(
                [build_findall_assets("ai", QUERY, limit=4), scout_probe],
                resources=resources(scout, tmp_path),
                instance=instance,
            ),
            materialize(
                [build_search_assets("ev", ["ev market trends"], objective="Where is EV going?")],
                resources=resources(scout, tmp_path),
                instance=instance,
            ),
        ]
        for result in results:
            assert result.success
            scan_result(scan, result)
            scan_run(scan, instance, result.run_id)
    assert emulator.ledger.creates() == 2 and emulator.ledger.active_runs() == []

    for index, text in enumerate(seen_in_run):
        scan.text(f"repr/str of the resource and client inside the run [{index}]", text)
    assert len(seen_in_run) == 4 and "api_key=***" in seen_in_run[0]
    scan.files(tmp_path / "tables")
    scan.files(dagster_home, skip_tables=frozenset({SNAPSHOTS_TABLE}))
    scan.output(capfd)
    scan.logs(caplog_everything)

    tables = tmp_path / "tables"
    assert (tables / "ai_entities" / "data.parquet").exists()
    assert (tables / "ev_report" / "report.md").read_text()
    assert any(r.name == "httpx" for r in caplog_everything.records)
    assert any(r.levelno == logging.DEBUG for r in caplog_everything.records)
    scan.assert_saw(
        "metadata of ai_entities",
        "metadata of ev_report",
        "event log of",
        "run record",
        "tables/ai_entities/data.parquet (rows)",
        "tables/ev_report/report.md",
        "dagster_home/history/runs/index.db table event_logs",
        "dagster_home/storage",  # the steps' captured stdout/stderr
        "stderr",
        "caplog.text",
    )
    scan.assert_clean()
