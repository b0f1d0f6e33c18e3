"""What the outputs are handed to an IO manager as: detected, or table_type=."""

from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from dagster import InputContext, IOManager, OutputContext, materialize

from scout_dagster import ScoutResource, build_search_assets
from scout_dagster.emulator import EmulatorServer
from tests.conftest import TEST_KEY


class Recording(IOManager):
    """An IO manager that says nothing of the types it takes: it records them."""

    def __init__(self) -> None:
        self.types: dict[str, type] = {}

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        self.types[context.asset_key.to_user_string()] = type(obj)

    def load_input(self, context: InputContext) -> Any:
        raise NotImplementedError


@pytest.mark.parametrize(
    "table_type, expected",
    [(None, pa.Table), ("arrow", pa.Table), ("pandas", pd.DataFrame)],
)
def test_an_io_manager_that_does_not_say_gets_arrow_or_what_table_type_names(
    emulator: EmulatorServer, table_type: Any, expected: type
) -> None:
    recording = Recording()
    assets = build_search_assets("ev", ["ev market"], limit=2, table_type=table_type)
    result = materialize(
        [assets],
        resources={
            "scout": ScoutResource(api_key=TEST_KEY, base_url=emulator.url),
            "scout_io_manager": recording,
        },
    )
    assert result.success
    assert recording.types == {
        "ev_results": expected,
        "ev_sources": expected,
        "ev_findings": expected,
        # No text for an IO manager that does not say it stores text: a one-row table.
        "ev_report": expected,
    }


def test_a_bad_table_type_fails_at_definition_time() -> None:
    with pytest.raises(ValueError, match="table_type must be one of arrow, pandas, polars"):
        build_search_assets("ev", ["ev market"], table_type="spark")  # type: ignore[arg-type]
