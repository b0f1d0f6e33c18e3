"""The columns declared without pyarrow are the Arrow schemas' columns.

Definitions read :mod:`scout_dagster.tables.columns` (no pyarrow); the data
is written with :mod:`scout_dagster.tables.schemas`. Each declared type name
must be what pyarrow prints for the type the table is built with, or the
column schema the UI shows would differ from the Parquet files.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from scout_dagster import FindAllRequest
from scout_dagster.tables import columns, schemas

FIXED = {
    "citations": (columns.CITATIONS_COLUMNS, schemas.CITATIONS_SCHEMA),
    "results": (columns.RESULTS_COLUMNS, schemas.RESULTS_SCHEMA),
    "sources": (columns.SOURCES_COLUMNS, schemas.SOURCES_SCHEMA),
    "findings": (columns.FINDINGS_COLUMNS, schemas.FINDINGS_SCHEMA),
    "monitor_results": (columns.MONITOR_RESULTS_COLUMNS, schemas.MONITOR_RESULTS_SCHEMA),
}

#: Every kind an output_schema property can become.
OUTPUT_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "Company name"},
        "headcount": {"type": ["integer", "null"]},
        "score": {"type": "number"},
        "public": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "rounds": {"type": "array", "items": {"type": "number"}},
        "office": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "n": {"type": "integer"}},
        },
        "extra": {"type": "object"},
        "mixed": {"type": "array"},
    },
}


@pytest.mark.parametrize("table", list(FIXED))
def test_a_fixed_tables_declared_columns_are_its_arrow_schema(table: str) -> None:
    declared, schema = FIXED[table]
    assert columns.declared_columns(schema) == declared


@pytest.mark.parametrize(
    "request_",
    [FindAllRequest("q"), FindAllRequest("q", output_schema=OUTPUT_SCHEMA)],
    ids=["fields", "output_schema"],
)
def test_the_entities_declared_columns_are_its_arrow_schema(request_: FindAllRequest) -> None:
    entity = columns.entity_columns(request_)
    schema = schemas.entities_schema(entity)
    assert columns.declared_columns(schema) == columns.entities_columns(entity)
    kinds = {c.kind for c in entity}
    if request_.output_schema is not None:
        assert kinds == {"string", "integer", "number", "boolean", "list", "struct", "json"}
    for column in entity:
        assert str(column.arrow_type) == column.type_name
        assert isinstance(column.arrow_type, pa.DataType)


def test_the_provenance_columns_close_every_table() -> None:
    for declared, _ in FIXED.values():
        assert declared[-len(columns.PROVENANCE_DECLARED) :] == columns.PROVENANCE_DECLARED
