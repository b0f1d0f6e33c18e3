"""Secret hygiene of run storage snapshots, the reprs of the resource and its
clients, and a literal key kept out of the resource config."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import (
    DagsterInstance,
    EnvVar,
    materialize,
)
from dagster_shared.serdes import serialize_value

from scout_dagster import (
    ScoutClient,
    ScoutResource,
    build_findall_assets,
)
from scout_dagster.emulator import EmulatorServer
from tests.secrets.support import (
    KEY,
    QUERY,
    SNAPSHOTS_TABLE,
    KeyScan,
    make_scout,
    resources,
)

# ---------------------------------------------------------------- run storage snapshots


@pytest.mark.parametrize(
    "flavour",
    [
        # A literal key would become a default of the resource's config schema,
        # which Dagster stores in the job snapshot: the resource keeps a reference.
        pytest.param("literal", id="literal-key"),
        pytest.param("env", id="EnvVar-key"),
    ],
)
def test_run_storage_snapshots_never_hold_the_key(
    emulator: EmulatorServer,
    dagster_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    flavour: str,
) -> None:
    """Kept apart from the tests above, which skip the snapshots table: so this
    one leak shows as one precise failure and every other surface of the literal
    flavour stays proven clean."""
    scout = make_scout(flavour, emulator, monkeypatch)
    scan = KeyScan()
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        result = materialize(
            [build_findall_assets("ai", QUERY, limit=2)],
            resources=resources(scout, tmp_path),
            instance=instance,
        )
        assert result.success
        run = instance.get_run_by_id(result.run_id)
        assert run is not None and run.job_snapshot_id and run.execution_plan_snapshot_id
        job_snapshot = instance.get_job_snapshot(run.job_snapshot_id)
        plan_snapshot = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
        scan.text("job snapshot", serialize_value(job_snapshot))
        scan.text("execution plan snapshot", serialize_value(plan_snapshot))
    scan.files(dagster_home)
    # The resource's config schema is in the snapshot the scan read (not blind).
    assert "ScoutResource" in serialize_value(job_snapshot)
    scan.assert_saw(f"dagster_home/history/runs.db table {SNAPSHOTS_TABLE} (zlib)")
    scan.assert_clean()


# ---------------------------------------------------------------- reprs


def test_reprs_of_the_resource_and_clients_never_show_the_key(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCOUT_API_KEY", KEY)
    literal = ScoutResource(api_key=KEY, base_url=emulator.url)
    from_env = ScoutResource(api_key=EnvVar("SCOUT_API_KEY"), base_url=emulator.url)
    scan = KeyScan()
    with ScoutClient(KEY, base_url=emulator.url) as client:
        built = literal.get_client()
        try:
            for name, thing in {
                "ScoutResource(api_key=KEY)": literal,
                "ScoutResource(api_key=EnvVar)": from_env,
                "ScoutClient(KEY)": client,
                "ScoutResource.get_client()": built,
            }.items():
                scan.text(f"repr({name})", repr(thing))
                scan.text(f"str({name})", str(thing))
                scan.text(f"format({name})", f"{thing}")
        finally:
            built.close()
    assert repr(literal) == (
        f"ScoutResource(base_url={emulator.url!r}, api_key=***, local_emulator=False, "
        "emulator_without_key=False)"
    )
    assert repr(client) == f"ScoutClient(base_url={emulator.url!r}, api_key=***)"
    assert repr(built) == repr(client)
    scan.assert_clean()


def test_a_literal_key_is_kept_out_of_the_resource_config() -> None:
    from scout_dagster._dagster._resource import _LITERAL_KEYS

    resource = ScoutResource(api_key=KEY, base_url="https://core.usescout.sh")
    assert resource.api_key is not None
    assert resource.api_key.startswith("scout-key-ref:") and KEY not in resource.api_key
    assert KEY not in repr(resource.model_dump())
    # A process that never built the resource cannot use the reference, and says why.
    _LITERAL_KEYS.pop(resource.api_key)
    try:
        with pytest.raises(ValueError, match=r"pass it as api_key=EnvVar\('SCOUT_API_KEY'\)"):
            resource.get_client()
    finally:
        ScoutResource(api_key=KEY)  # registers it again for the tests that follow


def test_a_literal_key_leaves_no_fingerprint_of_itself() -> None:
    """The reference says where the key stands among this code's literal keys,
    nothing that lets the holder of the run storage confirm a guessed key."""
    import hashlib

    resource = ScoutResource(api_key=KEY, base_url="https://core.usescout.sh")
    other = ScoutResource(api_key=KEY + "-other", base_url="https://core.usescout.sh")
    assert resource.api_key is not None
    assert resource.api_key != other.api_key
    assert ScoutResource(api_key=KEY).api_key == resource.api_key, "the same key, the same ref"
    for digest in (hashlib.sha256(KEY.encode()).hexdigest(), hashlib.md5(KEY.encode()).hexdigest()):
        assert digest[:8] not in resource.api_key
    assert resource.api_key.removeprefix("scout-key-ref:").startswith("literal-key-")


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_a_blank_literal_key_is_refused_at_definition_time(blank: str) -> None:
    with pytest.raises(ValueError, match=r"api_key is empty: pass api_key=EnvVar"):
        ScoutResource(api_key=blank)
