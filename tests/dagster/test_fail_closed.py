"""Fail closed: without a key nothing talks to an emulator unless asked to in so many words.

A code location written like ``definitions.py`` but deployed where
``SCOUT_API_KEY`` is missing must fail before any request, write nothing and
start nothing. The emulator is used only with an explicit opt-in
(``emulator_without_key=True``, ``for_local_emulator()``), and then every
materialization says its data is synthetic. The emulator's server is an
extra: without it the package imports and works, and the emulator fails with
a message naming the extra.
"""

from __future__ import annotations

import importlib.metadata
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize

from scout_dagster import ScoutConfigError, ScoutParquetIOManager, ScoutResource
from scout_dagster._dagster._resource import NO_KEY_MESSAGE
from scout_dagster._local_emulator import EMULATOR_API_KEY, EMULATOR_EXTRA_HINT
from scout_dagster.emulator import EmulatorConfig, EmulatorServer
from tests.bad_input.support import QUERY, error_chain
from tests.conftest import TEST_KEY

ROOT = Path(__file__).resolve().parents[2]

#: A user's code location: the production shape, no opt-in to the emulator.
USER_LOCATION = """
from dagster import Definitions
from scout_dagster import ScoutParquetIOManager, ScoutResource, build_findall_assets

companies = build_findall_assets("companies", "S-1 stage AI infrastructure companies", limit=5)
defs = Definitions(
    assets=[companies],
    resources={{
        "scout": ScoutResource.from_env(),
        "scout_io_manager": ScoutParquetIOManager(base_path={base_path!r}),
    }},
)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _files(base: Path) -> list[Path]:
    return sorted(p for p in base.rglob("*") if p.is_file()) if base.exists() else []


@pytest.fixture
def shared_emulator_port(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    """An emulator where the machine's shared one would be (SCOUT_EMULATOR_PORT),
    taking the shared emulator's key: whatever falls back to the emulator lands
    here, and is seen in its ledger."""
    config = EmulatorConfig(speed=200.0, keepalive_s=0.2, stream_tick_s=0.005)
    with EmulatorServer(config=config, api_key=EMULATOR_API_KEY) as server:
        monkeypatch.setenv("SCOUT_EMULATOR_PORT", str(server.port))
        yield server


def test_a_user_location_without_a_key_fails_writes_nothing_and_starts_nothing(
    tmp_path: Path,
) -> None:
    base = tmp_path / "tables"
    location = tmp_path / "user_location.py"
    location.write_text(USER_LOCATION.format(base_path=str(base)))
    port = _free_port()  # where an emulator would be started
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCOUT_")}
    env |= {"SCOUT_EMULATOR_PORT": str(port), "DAGSTER_HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "asset",
            "materialize",
            "-f",
            str(location),
            "--select",
            "companies_entities,companies_citations",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-3000:]
    assert "SCOUT_API_KEY is not set where this run executes" in output
    assert "emulator_without_key=True" in output, "the message says how to opt in"
    assert _files(base) == []
    assert not _listening(port), "an emulator was started"


def test_from_env_without_a_key_sends_nothing(
    shared_emulator_port: EmulatorServer, tmp_path: Path
) -> None:
    from scout_dagster import build_findall_assets

    with pytest.raises(Exception) as caught:
        materialize(
            [build_findall_assets("ai", QUERY)],
            resources={
                "scout": ScoutResource.from_env(),
                "scout_io_manager": ScoutParquetIOManager(base_path=str(tmp_path / "t")),
            },
        )
    chain = error_chain(caught.value)
    assert any(isinstance(e, ScoutConfigError) and str(e) == NO_KEY_MESSAGE for e in chain), [
        str(e) for e in chain
    ]
    assert shared_emulator_port.ledger.requests == []
    assert _files(tmp_path / "t") == []


def test_the_opt_in_uses_the_emulator_and_marks_the_data_synthetic(
    shared_emulator_port: EmulatorServer, tmp_path: Path
) -> None:
    from scout_dagster import build_findall_assets

    instance = DagsterInstance.ephemeral()
    result = materialize(
        [build_findall_assets("ai", QUERY, limit=3)],
        resources={
            "scout": ScoutResource.from_env(emulator_without_key=True),
            "scout_io_manager": ScoutParquetIOManager(base_path=str(tmp_path / "t")),
        },
        instance=instance,
    )
    assert result.success
    assert len(shared_emulator_port.ledger.runs()) == 1
    for event in result.get_asset_materialization_events():
        metadata = event.step_materialization_data.materialization.metadata
        assert "SYNTHETIC" in str(metadata["scout/synthetic"].value)
    logs = [record.user_message for record in instance.all_logs(result.run_id)]
    assert any("LOCAL EMULATOR" in m and "SYNTHETIC" in m for m in logs)


def test_the_key_is_read_where_the_run_executes(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A code server without secrets defines the resource; the run's process has
    the key. No emulator either way: this is the real-service path."""
    from scout_dagster import build_findall_assets

    monkeypatch.setenv("SCOUT_BASE_URL", emulator.url)
    scout = ScoutResource.from_env()  # no key in this environment yet
    monkeypatch.setenv("SCOUT_API_KEY", TEST_KEY)
    result = materialize(
        [build_findall_assets("ai", QUERY, limit=3)],
        resources={
            "scout": scout,
            "scout_io_manager": ScoutParquetIOManager(base_path=str(tmp_path / "t")),
        },
    )
    assert result.success
    assert len(emulator.ledger.runs()) == 1
    for event in result.get_asset_materialization_events():
        assert "scout/synthetic" not in event.step_materialization_data.materialization.metadata


def test_the_emulator_never_gets_the_accounts_key_from_the_environment(
    shared_emulator_port: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCOUT_API_KEY", TEST_KEY)
    scout = ScoutResource(base_url=shared_emulator_port.url, local_emulator=True)
    client = scout.get_client()
    try:
        client.create_findall_run(query=QUERY)
    finally:
        client.close()
    (request,) = shared_emulator_port.ledger.requests
    assert request.status == 200, "sent the emulator's own key, which it accepts"


def test_a_base_url_without_a_key_never_falls_back_to_the_emulator(
    shared_emulator_port: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCOUT_BASE_URL", "https://eu.scout.test")
    scout = ScoutResource.from_env(emulator_without_key=True)
    with pytest.raises(ScoutConfigError, match="unset SCOUT_BASE_URL to use the local emulator"):
        scout.get_client()
    assert shared_emulator_port.ledger.requests == []


# ---------------------------------------------------------------- the emulator extra

#: Makes starlette and uvicorn unimportable, as after a plain `pip install scout-dagster`.
_WITHOUT_EXTRA = """
import sys

class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("starlette", "uvicorn"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, _NotInstalled())
"""


def _run_without_extra(code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCOUT_")}
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT_EXTRA + textwrap.dedent(code)],
        cwd=ROOT,
        env=env | {"SCOUT_EMULATOR_PORT": str(_free_port())},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_the_extra_the_package_works_and_the_emulator_names_the_extra() -> None:
    done = _run_without_extra(
        """
        from scout_dagster import ScoutClient, ScoutResource, build_findall_assets
        build_findall_assets("ai", "companies")
        resource = ScoutResource.for_local_emulator()
        try:
            resource.get_client()
        except ImportError as exc:
            print("ensure:", exc)
        try:
            import scout_dagster.emulator
        except ImportError as exc:
            print("import:", exc)
        """
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert any(line.startswith("ensure: " + EMULATOR_EXTRA_HINT) for line in lines), lines
    assert any(line.startswith("import: " + EMULATOR_EXTRA_HINT) for line in lines), lines
    assert "pip install 'scout-dagster[emulator]'" in EMULATOR_EXTRA_HINT


def test_the_emulator_server_is_an_extra_of_the_package() -> None:
    requirements = importlib.metadata.requires("scout-dagster") or []
    plain = [r for r in requirements if "extra ==" not in r]
    assert not [r for r in plain if r.startswith(("starlette", "uvicorn"))], plain
    for module in ("starlette", "uvicorn"):
        assert any(r.startswith(module) and "extra == 'emulator'" in r for r in requirements)
    assert any(
        r.startswith("dagster-webserver") and "extra == 'webserver'" in r for r in requirements
    )


# ---------------------------------------------------------------- storage across hosts


@pytest.mark.parametrize(
    ("base_path", "executor", "warns"),
    [
        ("data/scout", "celery", True),
        ("data/scout", "k8s", True),
        ("data/scout", "docker", True),
        ("data/scout", "multiprocess", False),
        ("data/scout", "in_process", False),
        ("s3://bucket/scout", "celery", False),
        ("gs://bucket/scout", "k8s", False),
        ("/mnt/shared/scout", "celery", False),
    ],
)
def test_a_relative_folder_under_a_distributed_executor_warns_with_the_fix(
    base_path: str, executor: str, warns: bool
) -> None:
    from scout_dagster._dagster._io_manager import distributed_storage_warning

    warning = distributed_storage_warning(base_path, executor)
    assert (warning is not None) == warns
    if warning is not None:
        assert f"({executor})" in warning and "'s3://bucket/scout'" in warning
