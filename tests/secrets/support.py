"""What the secret-hygiene tests share: the recognizable key, :class:`KeyScan`
(which searches every place the key could have gone), and the resources the
tests build with the key given literally or through ``EnvVar``."""

from __future__ import annotations

import sqlite3
import traceback
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from dagster import (
    DagsterInstance,
    EnvVar,
    ExecuteInProcessResult,
)
from dagster_shared.serdes import serialize_value

from scout_dagster import (
    ScoutParquetIOManager,
    ScoutResource,
)
from scout_dagster.emulator import EmulatorServer

KEY = "sk-live-SECRET-9f8e7d6c5b4a"
QUERY = "S-1 stage AI infrastructure companies"
#: Every logger that could see a request: the HTTP stack, ours, Dagster's, the server's.
LOGGERS = ("httpx", "httpcore", "scout_dagster", "dagster", "uvicorn")
#: Run storage's snapshot table: asserted on its own, see test_run_storage_snapshots_*.
SNAPSHOTS_TABLE = "snapshots"


# ---------------------------------------------------------------- the scan


class KeyScan:
    """Looks for the key in everything it is shown and remembers where it was found."""

    def __init__(self, secret: str = KEY) -> None:
        self.secret = secret.encode()
        self.found: list[str] = []
        #: where -> bytes examined, so a test can prove a surface was not empty.
        self.seen: dict[str, int] = {}

    def text(self, where: str, value: str | bytes) -> None:
        data = value.encode("utf-8", "backslashreplace") if isinstance(value, str) else value
        self.seen[where] = self.seen.get(where, 0) + len(data)
        at = data.find(self.secret)
        if at >= 0:
            context = data[max(at - 80, 0) : at + len(self.secret) + 40]
            self.found.append(f"{where}: ...{context!r}...")

    def serialized(self, where: str, values: Iterable[Any]) -> None:
        for index, value in enumerate(values):
            self.text(f"{where}[{index}]", serialize_value(value))

    def exception(self, where: str, error: BaseException) -> None:
        self.text(f"{where} traceback", "".join(traceback.format_exception(error)))
        seen: list[BaseException] = []
        current: BaseException | None = error
        while current is not None and current not in seen:
            seen.append(current)
            name = type(current).__name__
            self.text(f"{where} str({name})", str(current))
            self.text(f"{where} repr({name})", repr(current))
            current = current.__cause__ or current.__context__

    def logs(self, caplog: pytest.LogCaptureFixture) -> None:
        self.text("caplog.text", caplog.text)
        for record in caplog.records:
            where = f"log record {record.name}:{record.levelname}"
            self.text(where, record.getMessage())
            self.text(f"{where} (fields)", repr(vars(record)))
            if record.exc_info:
                self.text(
                    f"{where} (exc_info)", "".join(traceback.format_exception(*record.exc_info))
                )

    def output(self, capfd: pytest.CaptureFixture[str]) -> None:
        out, err = capfd.readouterr()
        self.text("stdout", out)
        self.text("stderr", err)

    def files(self, root: Path, *, skip_tables: frozenset[str] = frozenset()) -> None:
        """Every file as bytes; Parquet decoded; SQLite rows, zlib blobs decompressed."""
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            where = str(path.relative_to(root.parent))
            data = path.read_bytes()
            self.text(where, data)
            if path.suffix == ".parquet":
                table = pq.read_table(path)
                self.text(f"{where} (rows)", repr(table.to_pylist()))
                self.text(f"{where} (schema)", repr(table.schema.metadata))
            elif data.startswith(b"SQLite format 3\x00"):
                for table_name, value in _sqlite_values(path, skip_tables):
                    self.text(f"{where} table {table_name}", value)

    def assert_clean(self) -> None:
        assert self.seen, "nothing was scanned"
        assert not self.found, "the API key was found in:\n  " + "\n  ".join(self.found)

    def assert_saw(self, *prefixes: str) -> None:
        """Each surface named was scanned and was not empty (the scan is not blind)."""
        for prefix in prefixes:
            size = sum(n for where, n in self.seen.items() if where.startswith(prefix))
            assert size > 0, f"nothing scanned under {prefix!r}: {sorted(self.seen)}"


def _sqlite_values(path: Path, skip_tables: frozenset[str]) -> Iterator[tuple[str, bytes]]:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        for name in names:
            if name in skip_tables:
                continue
            for row in connection.execute(f'SELECT * FROM "{name}"'):
                for value in row:
                    if isinstance(value, str):
                        yield name, value.encode()
                    elif isinstance(value, bytes):
                        yield name, value
                        inflated = _inflate(value)
                        if inflated is not None:
                            yield f"{name} (zlib)", inflated
    finally:
        connection.close()


def _inflate(blob: bytes) -> bytes | None:
    """The blob decompressed when it is zlib data (Dagster's snapshots are), else None."""
    try:
        return zlib.decompress(blob)
    except zlib.error:
        return None


def scan_result(scan: KeyScan, result: ExecuteInProcessResult) -> None:
    scan.serialized("result events", result.all_events)
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        where = f"metadata of {materialization.asset_key.to_user_string()}"
        for name, value in materialization.metadata.items():
            scan.text(f"{where} {name}", f"{value!r} {getattr(value, 'value', value)}")


def scan_run(scan: KeyScan, instance: DagsterInstance, run_id: str) -> None:
    """The run's event log and its record in run storage, deserialized."""
    logs = instance.all_logs(run_id)
    assert logs, "the run left no event log"
    scan.serialized(f"event log of {run_id}", logs)
    run = instance.get_run_by_id(run_id)
    assert run is not None
    scan.text(f"run record {run_id}", serialize_value(run))


def make_scout(
    flavour: str, server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> ScoutResource:
    """The resource with the key given literally, or through EnvVar("SCOUT_API_KEY")."""
    if flavour == "env":
        monkeypatch.setenv("SCOUT_API_KEY", KEY)
        return ScoutResource(api_key=EnvVar("SCOUT_API_KEY"), base_url=server.url, max_retries=1)
    return ScoutResource(api_key=KEY, base_url=server.url, max_retries=1)


def resources(scout: ScoutResource, tmp_path: Path) -> dict[str, Any]:
    return {
        "scout": scout,
        "scout_io_manager": ScoutParquetIOManager(base_path=str(tmp_path / "tables")),
    }


def only_run_id(instance: DagsterInstance) -> str:
    (run,) = instance.get_runs()
    return run.run_id
