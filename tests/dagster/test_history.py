"""The runs ledger and the current entities, built from a backfill's history.

A daily-partitioned FindAll asset is materialized one partition at a time on
a persistent instance, as a backfill runs it: three days; the second again by
a Dagster run that adopts its remote run (as a re-execution does: the UI
copies the parent's ``scout/run/<name>`` tag); the first again (a refresh: a
new remote run replaces the partition); a fourth whose first attempt fails
after its remote run exists, adopted by the step retry; a fifth stopped by a
credit budget (paid, nothing written). The ledger and the current entities
are then materialized and read back and compared with the emulator's ledger
and the entities' partitions; a second case does the same through
``DuckDBPandasIOManager``.
"""

import dataclasses
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import (
    AssetsDefinition,
    DagsterInstance,
    DailyPartitionsDefinition,
    RetryPolicy,
    StaticPartitionsDefinition,
    asset,
    materialize,
)

from scout_dagster import (
    ScoutParquetIOManager,
    ScoutResource,
    build_findall_assets,
    build_search_assets,
)
from scout_dagster._dagster import _history
from scout_dagster._dagster._history import build_current_entities, build_scout_runs_ledger
from scout_dagster.emulator import EmulatorServer
from scout_dagster.emulator._ledger import RunSnapshot
from scout_dagster.tables.columns import CURRENT_COLUMNS
from scout_dagster.tables.current import as_arrow_table
from tests.conftest import TEST_KEY
from tests.dagster.test_adoption import GETS_THAT_FAIL_AN_ATTEMPT
from tests.hostile.server import HostileServer, Scenario

DAILY = DailyPartitionsDefinition(start_date="2026-01-01")
# The emulator's world is deterministic: with this query the first two days
# share one company (astelrix.com), so the current table merges sightings.
QUERY = "Climate tech companies that raised money on {start:%B %d, %Y}"
SHARED = "astelrix.com"
D1, D2, D3, D4, D5 = (f"2026-01-0{day}" for day in range(1, 6))


def _findall(**options: Any) -> AssetsDefinition:
    options.setdefault("limit", 4)
    return build_findall_assets(
        "news", QUERY, partitions_def=DAILY, owners=["team:research"], **options
    )


@dataclasses.dataclass
class Backfill:
    instance: DagsterInstance
    base: Path
    findall: AssetsDefinition
    ledger: AssetsDefinition
    current: AssetsDefinition
    resources: dict[str, Any]
    remote_runs: list[RunSnapshot]  # the emulator's ledger after the backfill
    runs_of: dict[str, list[str]]  # partition -> its remote runs, in creation order

    def materialize(self, target: AssetsDefinition) -> None:
        result = materialize(
            [self.findall, target],
            selection=[target.key],
            resources=self.resources,
            instance=self.instance,
        )
        assert result.success

    def read(self, table: str) -> pa.Table:
        # partitioning=None: every row carries partition_key; no folder column.
        return pq.read_table(self.base / table, partitioning=None)


@pytest.fixture(scope="module")
def backfill(
    fast_emulator_server: EmulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backfill]:
    """The backfill of the module's docstring, once for the module's tests."""
    emulator = fast_emulator_server
    emulator.state.reset()
    tmp = tmp_path_factory.mktemp("history")
    home = tmp / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    resources: dict[str, Any] = {
        "scout": ScoutResource(
            api_key=TEST_KEY, base_url=emulator.url, max_retries=1, retry_backoff_s=0.01
        ),
        "scout_io_manager": ScoutParquetIOManager(base_path=str(tmp / "data")),
    }
    findall = _findall()
    with DagsterInstance.from_config(str(home)) as instance:

        def run(assets: AssetsDefinition, partition: str, **kwargs: Any) -> bool:
            result = materialize(
                [assets],
                resources=resources,
                instance=instance,
                partition_key=partition,
                raise_on_error=False,
                **kwargs,
            )
            return result.success

        for day in (D1, D2, D3):
            assert run(findall, day)
        (second_day,) = [r.run_id for r in emulator.ledger.runs() if _day_name(D2) in str(r.query)]
        assert run(findall, D2, tags={"scout/run/news": second_day})
        assert run(findall, D1)
        emulator.faults.inject("server_error", times=GETS_THAT_FAIL_AN_ATTEMPT, method="GET")
        assert run(_findall(retry_policy=RetryPolicy(max_retries=1)), D4)
        assert emulator.ledger.faults_injected()["server_error"] == GETS_THAT_FAIL_AN_ATTEMPT
        assert not run(_findall(limit=30, credit_budget=8), D5)

        remote_runs = emulator.ledger.runs()
        runs_of: dict[str, list[str]] = {}
        for remote in remote_runs:
            (day,) = [d for d in (D1, D2, D3, D4, D5) if _day_name(d) in str(remote.query)]
            runs_of.setdefault(day, []).append(remote.run_id)
        counts = {day: len(ids) for day, ids in runs_of.items()}
        assert counts == {D1: 2, D2: 1, D3: 1, D4: 1, D5: 1}
        (budget_run,) = [r for r in remote_runs if r.run_id in runs_of[D5]]
        assert budget_run.state == "cancelled" and budget_run.credits > 0

        yield Backfill(
            instance=instance,
            base=tmp / "data",
            findall=findall,
            ledger=build_scout_runs_ledger(findall),
            current=build_current_entities(findall),
            resources=resources,
            remote_runs=remote_runs,
            runs_of=runs_of,
        )


def _day_name(day: str) -> str:
    return dt.date.fromisoformat(day).strftime("%B %d, %Y")


def expected_current(rows: pa.Table) -> dict[str, dict[str, Any]]:
    """The current entities of ``rows``, merged in plain Python."""
    sightings: dict[str, list[dict[str, Any]]] = {}
    for row in rows.to_pylist():
        sightings.setdefault(row["entity_id"], []).append(row)
    merged = {}
    for entity_id, seen in sightings.items():
        latest = max(seen, key=lambda row: (row["fetched_at"], row["run_id"]))
        merged[entity_id] = {
            "name": latest["name"],
            "website": latest["website"],
            "first_seen_at": min(row["fetched_at"] for row in seen),
            "last_seen_at": latest["fetched_at"],
            "runs_seen": len({row["run_id"] for row in seen}),
            "partitions_seen": len({row["partition_key"] for row in seen}),
            "last_run_id": latest["run_id"],
            "last_partition_key": latest["partition_key"],
        }
    return merged


def _as_found(current: pa.Table) -> dict[str, dict[str, Any]]:
    wanted = ("name", "website", *(name for name, _ in CURRENT_COLUMNS))
    return {row["entity_id"]: {k: row[k] for k in wanted} for row in current.to_pylist()}


def monthly_spend_sql() -> str:
    """The GROUP BY the module's documentation shows, as written there."""
    doc = str(_history.__doc__)
    found = re.search(r"SELECT team.*?ORDER BY month, team", doc, re.S)
    assert found is not None
    return found.group(0)


# ---------------------------------------------------------------- current entities


def test_the_current_entities_hold_each_entity_once_with_its_first_and_last_sighting(
    backfill: Backfill,
) -> None:
    backfill.materialize(backfill.current)
    current = backfill.read("news_entities_current")
    ids = current.column("entity_id").to_pylist()
    assert len(ids) == len(set(ids)) and ids == sorted(ids)

    rows = backfill.read("news_entities")
    assert set(rows.column("partition_key").to_pylist()) == {D1, D2, D3, D4}
    assert _as_found(current) == expected_current(rows)
    assert current.num_rows < rows.num_rows, "a company seen twice is one row"

    # The company both of the first two days found: first seen on the second
    # day (its run ended first), last on the first day's refresh.
    shared = _as_found(current)[SHARED]
    refresh = backfill.runs_of[D1][-1]
    assert shared["partitions_seen"] == 2 and shared["runs_seen"] == 2
    assert shared["first_seen_at"] < shared["last_seen_at"]
    assert (shared["last_run_id"], shared["last_partition_key"]) == (refresh, D1)

    # The first day's first run was replaced by its refresh: it counts nowhere.
    replaced = backfill.runs_of[D1][0]
    assert replaced not in rows.column("run_id").to_pylist()
    assert replaced not in current.column("last_run_id").to_pylist()
    # Nor its columns: the provenance is summed up in the added columns.
    assert not {"run_id", "query", "fetched_at", "partition_key"} & set(current.column_names)


# ---------------------------------------------------------------- the runs ledger


def test_the_ledger_has_one_row_per_remote_run_and_what_each_cost(backfill: Backfill) -> None:
    backfill.materialize(backfill.ledger)
    ledger = backfill.read("scout_runs")
    assert ledger.schema.equals(_history.LEDGER_SCHEMA)

    rows = {row["run_id"]: row for row in ledger.to_pylist()}
    assert len(rows) == ledger.num_rows == len(backfill.remote_runs)
    for remote in backfill.remote_runs:
        row = rows[remote.run_id]
        assert (row["credits"], row["state"]) == (remote.credits, remote.state)
        assert (row["kind"], row["name"], row["asset"]) == ("findall", "news", "news_entities")
        assert row["team"] == "research" and row["group_name"] == "scout"
    total = sum(remote.credits for remote in backfill.remote_runs)
    assert sum(ledger.column("credits").to_pylist()) == total

    partitions = {run_id: day for day, ids in backfill.runs_of.items() for run_id in ids}
    assert {run_id: row["partition_key"] for run_id, row in rows.items()} == partitions

    materialized = [row for row in rows.values() if row["outcome"] == "materialized"]
    assert len(materialized) == 5
    for row in materialized:
        assert row["created_at"] <= row["completed_at"] and row["wait_s"] >= 0
        assert row["termination_reason"] and row["error"] is None

    # Recorded twice (the adopting re-run of the second day): one row, the first record.
    (twice,) = [row for row in rows.values() if row["times_recorded"] == 2]
    assert twice["run_id"] == backfill.runs_of[D2][0] and twice["adopted"] is False
    # Adopted by a step retry after its first attempt failed: recorded once.
    (adopted,) = [rows[run_id] for run_id in backfill.runs_of[D4]]
    assert adopted["adopted"] is True and adopted["times_recorded"] == 1
    # Paid and failed: from the step failure.
    (failed,) = [rows[run_id] for run_id in backfill.runs_of[D5]]
    assert failed["outcome"] == "failed" and failed["state"] == "cancelled"
    assert failed["credits"] > 0 and "credit budget of 8" in failed["error"]
    assert failed["created_at"] is None and failed["dagster_run_id"]

    recorded = ledger.column("recorded_at").to_pylist()
    assert recorded == sorted(recorded)

    # The documented GROUP BY, verbatim, over the table as stored.
    with duckdb.connect() as con:
        path = backfill.base / "scout_runs" / "data.parquet"
        con.execute(f"CREATE VIEW scout_runs AS SELECT * FROM read_parquet('{path}')")
        spend = con.sql(monthly_spend_sql()).fetchall()
    assert {team for team, *_ in spend} == {"research"}
    assert sum(credits for *_, credits, _ in spend) == total
    assert sum(runs for *_, runs in spend) == len(backfill.remote_runs)


def test_the_ledger_materialized_twice_gives_the_same_rows(backfill: Backfill) -> None:
    backfill.materialize(backfill.ledger)
    first = backfill.read("scout_runs")
    backfill.materialize(backfill.ledger)
    again = backfill.read("scout_runs")
    assert first.num_rows == len(backfill.remote_runs)
    assert again.equals(first)
    records = backfill.instance.fetch_materializations(backfill.ledger.key, limit=2).records
    versions = [
        (record.asset_materialization.tags or {}).get("dagster/data_version")
        for record in records
        if record.asset_materialization is not None
    ]
    assert len(versions) == 2 and versions[0] is not None and versions[0] == versions[1]


# ---------------------------------------------------------------- a warehouse


def test_the_ledger_and_the_current_entities_land_in_duckdb_and_read_back(
    emulator: EmulatorServer, instance: DagsterInstance, tmp_path: Path
) -> None:
    from dagster_duckdb_pandas import DuckDBPandasIOManager

    database = tmp_path / "warehouse.duckdb"
    resources = {
        "scout": ScoutResource(api_key=TEST_KEY, base_url=emulator.url),
        "scout_io_manager": DuckDBPandasIOManager(database=str(database), schema="scout"),
    }
    # Both regions find koroium.com, in the emulator's world.
    regions = StaticPartitionsDefinition(["eu", "us"])
    findall = build_findall_assets(
        "robots", "Robotics companies hiring in {partition_key}", limit=4, partitions_def=regions
    )
    search = build_search_assets("ev", ["ev market trends"], objective="Where to?", limit=3)
    for region in ("eu", "us"):
        assert materialize(
            [findall], resources=resources, instance=instance, partition_key=region
        ).success
    assert materialize([search], resources=resources, instance=instance).success
    ledger = build_scout_runs_ledger(findall, search)
    current = build_current_entities(findall)
    result = materialize(
        [findall, search, ledger, current],
        selection=[ledger.key, current.key],
        resources=resources,
        instance=instance,
    )
    assert result.success

    with duckdb.connect(str(database), read_only=True) as con:
        runs = con.sql("select * from scout.scout_runs").arrow().read_all()
        merged = con.sql("select * from scout.robots_entities_current").arrow().read_all()
        entities = con.sql("select * from scout.robots_entities").arrow().read_all()
        con.execute("set schema = 'scout'")
        spend = con.sql(monthly_spend_sql()).fetchall()

    remote = {run.run_id: run for run in emulator.ledger.runs()}
    assert len(remote) == 3
    assert sorted(runs.column("run_id").to_pylist()) == sorted(remote)
    for row in runs.to_pylist():
        assert row["credits"] == remote[row["run_id"]].credits
        assert row["kind"] == remote[row["run_id"]].kind
    total = sum(run.credits for run in remote.values())
    assert sum(runs.column("credits").to_pylist()) == total
    assert {team for team, *_ in spend} == {None}
    assert sum(credits for *_, credits, _ in spend) == total

    ids = merged.column("entity_id").to_pylist()
    assert len(ids) == len(set(ids))
    assert _as_found(merged) == expected_current(entities)
    assert _as_found(merged)["koroium.com"]["partitions_seen"] == 2


# ---------------------------------------------------------------- definitions


def test_the_factories_take_scout_assets_only() -> None:
    @asset
    def plain() -> None: ...

    findall = _findall()
    search = build_search_assets("ev", ["ev market trends"])
    with pytest.raises(ValueError, match="at least one Scout multi-asset"):
        build_scout_runs_ledger()
    with pytest.raises(ValueError, match=r"; got the asset definition of plain$"):
        build_scout_runs_ledger(findall, plain)
    with pytest.raises(ValueError, match="takes the assets of @scout_findall_assets"):
        build_current_entities(search)
    with pytest.raises(ValueError, match="table_type must be one of arrow, pandas, polars"):
        build_scout_runs_ledger(findall, table_type="csv")  # type: ignore[arg-type]

    ledger = build_scout_runs_ledger(findall, search, key_prefix="costs")
    assert ledger.key.to_user_string() == "costs/scout_runs"
    assert ledger.partitions_def is None
    assert {dep.asset_key.to_user_string() for dep in ledger.specs_by_key[ledger.key].deps} == {
        "news_entities",
        "ev_results",
    }
    current = build_current_entities(findall)
    assert current.key.to_user_string() == "news_entities_current"
    assert current.partitions_def is None
    (entities_in,) = current.specs_by_key[current.key].deps
    assert entities_in.asset_key.to_user_string() == "news_entities"
    assert type(entities_in.partition_mapping).__name__ == "AllPartitionMapping"
    assert build_current_entities(findall, "companies").key.to_user_string() == "companies"


def test_the_merge_breaks_ties_by_run_id_and_reads_every_table_type() -> None:
    when = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    rows = pa.table(
        {
            "entity_id": ["a.com", "a.com", "b.com", None],
            "name": ["A (run 1)", "A (run 2)", "B", "nameless"],
            "run_id": ["fa-1", "fa-2", "fa-1", "fa-1"],
            "query": ["q"] * 4,
            "partition_key": ["2026-01-02", "2026-01-03", "2026-01-02", "2026-01-02"],
            "fetched_at": pa.array([when] * 4, pa.timestamp("us", tz="UTC")),
        }
    )
    import polars

    for loaded in (rows, rows.to_pandas(), polars.from_arrow(rows), {"p": rows}):
        current = _history.current_entities(as_arrow_table(loaded))
        assert current.column("entity_id").to_pylist() == ["a.com", "b.com"]
        (a, b) = current.to_pylist()
        # The same moment in two runs: the greater run id is the latest.
        assert (a["name"], a["last_run_id"], a["runs_seen"], a["partitions_seen"]) == (
            "A (run 2)",
            "fa-2",
            2,
            2,
        )
        assert (b["name"], b["runs_seen"]) == ("B", 1)
    # No partition written yet: an empty table, not an error.
    empty = _history.current_entities(pa.table({}))
    assert empty.num_rows == 0 and "last_run_id" in empty.column_names
    with pytest.raises(ValueError, match="has no run_id, fetched_at, partition_key column"):
        _history.current_entities(pa.table({"entity_id": ["a.com"]}))


def test_a_paid_run_that_a_step_retry_replaced_is_in_the_ledger(
    instance: DagsterInstance, tmp_path: Path
) -> None:
    """Every run the server failed costs credits; with a RetryPolicy the failed
    attempt's metadata is gone from the step's events, not from the ledger."""
    key = "sk-hostile-history"
    assets = build_findall_assets(
        "failing", "AI companies", limit=2, retry_policy=RetryPolicy(max_retries=1)
    )
    ledger = build_scout_runs_ledger(assets)
    with HostileServer(key, Scenario(fail_runs=True, run_s=0.05)) as server:
        resources = {
            "scout": ScoutResource(api_key=key, base_url=server.url, max_retries=1),
            "scout_io_manager": ScoutParquetIOManager(base_path=str(tmp_path)),
        }
        result = materialize([assets], resources=resources, instance=instance, raise_on_error=False)
        assert not result.success
        remote = server.run_ids
        assert materialize([ledger], resources=resources, instance=instance).success
    table = pq.read_table(tmp_path / "scout_runs" / "data.parquet")
    assert set(table.column("run_id").to_pylist()) == remote and len(remote) >= 1
    rows = table.to_pylist()
    # Each attempt ended on a failed run (its credits read) after giving up the
    # runs that had ended at their first look (started, credits never read).
    assert {r["outcome"] for r in rows} == {"failed", "started"}
    assert all(r["credits"] > 0 for r in rows if r["outcome"] == "failed")
