"""A bad IO manager base path fails when the IO manager is built, or before
the run is created; good ones are accepted without touching storage."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import (
    EnvVar,
    materialize,
)

from scout_dagster import (
    ScoutParquetIOManager,
    build_findall_assets,
)
from scout_dagster.emulator import EmulatorServer
from tests.bad_input.support import (
    QUERY,
    assert_nothing_written_or_running,
    emulator_resource,
    error_chain,
)

# ---------------------------------------------------------------- IO manager base path

_EMPTY_BASE_PATH = (
    "base_path is empty: give a local folder such as 'data/scout' "
    "or a URI such as 's3://bucket/prefix'"
)

BAD_BASE_PATHS = [
    pytest.param("", _EMPTY_BASE_PATH, id="empty"),
    pytest.param("  ", _EMPTY_BASE_PATH, id="blank"),
    pytest.param(
        "data/scout ",
        "base_path 'data/scout ' starts or ends with a space: write 'data/scout'",
        id="trailing-space",
    ),
    # Each of these would silently become a local folder named s3, s3: ...
    pytest.param(
        "s3//bucket/x",
        "base_path 's3//bucket/x' is not a valid s3:// URI and would be taken as a local "
        "folder: write 's3://bucket/x'",
        id="s3-no-colon",
    ),
    pytest.param(
        "s3:/bucket",
        "base_path 's3:/bucket' is not a valid s3:// URI and would be taken as a local "
        "folder: write 's3://bucket'",
        id="s3-one-slash",
    ),
    pytest.param(
        "S3:bucket/x",
        "base_path 'S3:bucket/x' is not a valid s3:// URI and would be taken as a local "
        "folder: write 's3://bucket/x'",
        id="s3-no-slash",
    ),
    pytest.param(
        "gs//bucket",
        "base_path 'gs//bucket' is not a valid gs:// URI and would be taken as a local "
        "folder: write 'gs://bucket'",
        id="gs",
    ),
    pytest.param(
        "gcs:/bucket",
        "base_path 'gcs:/bucket' is not a valid gcs:// URI and would be taken as a local "
        "folder: write 'gcs://bucket'",
        id="gcs",
    ),
    pytest.param(
        "az:/container/x",
        "base_path 'az:/container/x' is not a valid az:// URI and would be taken as a local "
        "folder: write 'az://container/x'",
        id="az",
    ),
    pytest.param(
        "abfs//container@account.dfs.core.windows.net/x",
        "base_path 'abfs//container@account.dfs.core.windows.net/x' is not a valid abfs:// "
        "URI and would be taken as a local folder: "
        "write 'abfs://container@account.dfs.core.windows.net/x'",
        id="abfs",
    ),
    pytest.param(
        "hdfs:/namenode/x",
        "base_path 'hdfs:/namenode/x' is not a valid hdfs:// URI and would be taken as a "
        "local folder: write 'hdfs://namenode/x'",
        id="hdfs",
    ),
    pytest.param(
        "file:/tmp/scout",
        "base_path 'file:/tmp/scout' is not a valid file:// URI and would be taken as a "
        "local folder: write 'file:///tmp/scout'",
        id="file",
    ),
]


@pytest.mark.parametrize(("base_path", "message"), BAD_BASE_PATHS)
def test_a_bad_base_path_fails_when_the_io_manager_is_built(
    emulator: EmulatorServer, tmp_path: Path, base_path: str, message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        ScoutParquetIOManager(base_path=base_path)
    assert message in str(caught.value)
    assert_nothing_written_or_running(emulator, tmp_path, no_requests=True)


@pytest.mark.parametrize(("base_path", "message"), BAD_BASE_PATHS[:4])
def test_a_bad_base_path_from_the_environment_fails_before_the_run_is_created(
    emulator: EmulatorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    base_path: str,
    message: str,
) -> None:
    monkeypatch.setenv("SCOUT_TABLES", base_path)
    with pytest.raises(Exception) as caught:
        materialize(
            [build_findall_assets("ai", QUERY)],
            resources={
                "scout": emulator_resource(emulator),
                "scout_io_manager": ScoutParquetIOManager(base_path=EnvVar("SCOUT_TABLES")),
            },
        )
    messages = [str(e) for e in error_chain(caught.value)]
    assert any(message in m for m in messages), messages
    assert_nothing_written_or_running(emulator, tmp_path, no_requests=True)


def test_a_bad_default_base_path_from_the_environment_fails_when_the_io_manager_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCOUT_DAGSTER_DATA", "s3//bucket/x")
    with pytest.raises(ValueError) as caught:
        ScoutParquetIOManager()
    assert "write 's3://bucket/x'" in str(caught.value)


@pytest.mark.parametrize(
    "base_path",
    [
        "data/scout",
        "/srv/scout",
        "s3/data",  # a local folder that happens to be called s3
        "s3://bucket/x",
        "S3://bucket",
        "gs://bucket/x",
        "file:///tmp/scout",
        "s3://bucket/scout?endpoint_override=http%3A%2F%2F127.0.0.1%3A9000&scheme=http",
    ],
)
def test_good_base_paths_are_accepted_without_touching_storage(base_path: str) -> None:
    assert ScoutParquetIOManager(base_path=base_path).base_path == base_path
