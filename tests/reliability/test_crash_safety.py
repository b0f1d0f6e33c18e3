"""A process killed while writing a table leaves the previous version whole and no file
a reader would pick up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from scout_dagster import ParquetStore

ROOT = Path(__file__).resolve().parents[2]
#: How often the test looks at the folder while the writer writes, in seconds.
POLL_S = 0.001
PARTITION = {"partition": "2026-01-01"}

# The child writes version 2 of the table; where it dies is the test's choice.
_WRITER = """
import os, signal, sys
import numpy as np
import pyarrow as pa
from scout_dagster import ParquetStore

base, where, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
def die_before_replace(temp_path):
    print("at-hook", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
hook = die_before_replace if where == "before_replace" else None
table = pa.table({"version": pa.array(np.full(rows, 2)), "x": pa.array(np.random.rand(rows))})
print("writing", flush=True)
ParquetStore(base, before_replace=hook).write("entities", table, {"partition": "2026-01-01"})
print("written", flush=True)
"""


def _write_version_one(base: Path) -> pa.Table:
    table = pa.table({"version": [1, 1, 1], "x": [0.1, 0.2, 0.3]})
    ParquetStore(str(base)).write("entities", table, PARTITION)
    return table


def _assert_only_version_one(base: Path, version_one: pa.Table) -> None:
    folder = base / "entities" / "partition=2026-01-01"
    visible = [p.name for p in folder.iterdir() if not p.name.startswith((".", "_"))]
    assert visible == ["data.parquet"]
    assert pq.read_table(folder / "data.parquet").equals(version_one)
    # What readers of the whole table see: the old version, once.
    assert ds.dataset(base / "entities", format="parquet").to_table().num_rows == 3
    assert pd.read_parquet(base / "entities")["version"].tolist() == [1, 1, 1]


def test_killed_after_writing_before_the_rename(tmp_path: Path) -> None:
    version_one = _write_version_one(tmp_path)
    child = subprocess.run(
        [sys.executable, "-c", _WRITER, str(tmp_path), "before_replace", "1000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL
    assert "at-hook" in child.stdout and "written" not in child.stdout
    leftovers = list((tmp_path / "entities" / "partition=2026-01-01").glob(".data.parquet.*.tmp"))
    assert len(leftovers) == 1, "the whole new file was there, hidden, when the process died"
    _assert_only_version_one(tmp_path, version_one)


def test_killed_in_the_middle_of_writing(tmp_path: Path) -> None:
    version_one = _write_version_one(tmp_path)
    folder = tmp_path / "entities" / "partition=2026-01-01"
    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path), "mid_write", "30000000"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        # Kill it as soon as the temporary file has some bytes in it.
        while not any(p.stat().st_size > 0 for p in folder.glob(".data.parquet.*.tmp")):
            assert child.poll() is None, "the writer finished before it could be killed"
            assert time.monotonic() < deadline, "the writer never started writing"
            time.sleep(POLL_S)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    assert child.stdout is not None and "written" not in child.stdout.read()
    _assert_only_version_one(tmp_path, version_one)
