"""Runs against the hostile server: a key it echoes back never shows, and a
hostile run id stays one path segment."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from dagster import (
    DagsterInstance,
    materialize,
)

from tests.hostile.run_support import (
    KEY,
    failure_text,
    findall_assets,
    resources,
    settle,
)
from tests.hostile.server import HostileServer, Scenario

# ---------------------------------------------------------------- 4. the key echoed back


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", ["success", "success-after-a-429", "failed-run"])
def test_a_key_the_server_echoes_never_shows(
    case: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    scenario = Scenario(
        echo_key=True,
        rate_limit_creates=1 if case == "success-after-a-429" else 0,
        fail_runs=case == "failed-run",
    )
    with DagsterInstance.ephemeral() as instance, HostileServer(KEY, scenario) as server:
        result = materialize(
            [findall_assets(timeout_s=10)],
            resources=resources(server, tmp_path),
            instance=instance,
            raise_on_error=False,
        )
        assert result.success is (case != "failed-run"), failure_text(result)  # the harness
        materializations = result.get_asset_materialization_events()
        surfaces = {
            "failure": failure_text(result),
            "event log": str(instance.all_logs(result.run_id)),
            "metadata": str(
                [e.step_materialization_data.materialization for e in materializations]
            ),
            "log records": caplog.text,
        }
    out, err = capfd.readouterr()
    surfaces |= {"stdout": out, "stderr": err}
    assert surfaces["event log"], "the event log is empty: the scan is blind"
    leaks = {}
    for where, text in surfaces.items():
        at = text.find(KEY)
        if at >= 0:
            leaks[where] = text[max(at - 100, 0) : at + len(KEY) + 20].replace(KEY, "<KEY>")
    assert not leaks, f"the key shows in {sorted(leaks)}: {leaks}"


# ---------------------------------------------------------------- 5. a hostile run id


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "run_id", ["../../v1/evil?x=1#frag", "fa-1%2F..%2F..%2Fv1%2Fevil"], ids=["dots", "pct2F"]
)
def test_a_hostile_run_id_stays_one_path_segment(run_id: str, tmp_path: Path) -> None:
    with HostileServer(KEY, Scenario(run_id=run_id, run_s=30)) as server:
        result = materialize(
            [findall_assets(timeout_s=1)],
            resources=resources(server, tmp_path),
            raise_on_error=False,
        )
        settle(lambda: server.cancels, 3)
        run_path = "/v1/findall/runs/" + quote(run_id, safe="")
        strays = [
            f"{r.method} {r.raw_path}"
            for r in server.requests
            if not r.raw_path.startswith(run_path)
            and (r.method, r.raw_path) != ("POST", "/v1/findall/runs")
        ]
        cancels = list(server.cancels)
    assert not result.success  # the deadline of 1 s passed with the run at 30 s
    assert strays == [], f"requests that left the run's path {run_path!r}: {strays}"
    assert cancels == [run_id], f"cancels that reached the run: {cancels}"
