"""A step imports nothing: what it needs is imported as its resources are set
up, before STEP_START, once per process (a multiprocess executor's every step
is a fresh process)."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from scout_dagster.emulator import EmulatorServer
from tests.conftest import TEST_KEY

#: A fresh process materializes a FindAll or a search asset and prints the modules first
#: imported between its step's STEP_START and STEP_SUCCESS events, which the
#: instance handles in the step's process as they happen.
_STEP = """
import sys, tempfile
import dagster
from scout_dagster import (
    ScoutParquetIOManager, ScoutResource, build_findall_assets, build_search_assets
)

url, key, kind = sys.argv[1], sys.argv[2], sys.argv[3]
seen = {}
if kind == "findall":
    assets = build_findall_assets(
        "ai", "AI companies", limit=3,
        output_schema={
            "type": "object",
            "properties": {"name": {"type": "string"}, "website": {"type": "string"}},
        },
    )
else:
    assets = build_search_assets("ev", ["EV battery trends"])
with tempfile.TemporaryDirectory() as out, dagster.DagsterInstance.ephemeral() as instance:
    handle = instance.handle_new_event

    def handle_new_event(event, *args, **kwargs):
        kind = event.dagster_event and event.dagster_event.event_type_value
        if kind in ("STEP_START", "STEP_SUCCESS"):
            seen[kind] = set(sys.modules)
        return handle(event, *args, **kwargs)

    instance.handle_new_event = handle_new_event
    result = dagster.materialize(
        [assets],
        resources={
            "scout": ScoutResource(api_key=key, base_url=url),
            "scout_io_manager": ScoutParquetIOManager(base_path=out),
        },
        instance=instance,
    )
    assert result.success
print(sorted(seen["STEP_SUCCESS"] - seen["STEP_START"]))
"""


@pytest.mark.parametrize("kind", ["findall", "search"])
def test_a_step_imports_no_module(emulator: EmulatorServer, kind: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _STEP, emulator.url, TEST_KEY, kind],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    imported = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    assert imported == [], imported
