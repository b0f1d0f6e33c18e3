"""What the runs ledger and the current entities check alike when they are
defined: how a wrong argument is named, and the ``table_type``. (Their steps
share :mod:`._table_output`.)"""

from dagster import AssetsDefinition

from ._output_types import TABLE_TYPES, TableType

__all__: list[str] = []


def _shown(value: object) -> str:
    if isinstance(value, AssetsDefinition):
        keys = ", ".join(sorted(k.to_user_string() for k in value.keys))
        return f"the asset definition of {keys}"
    return type(value).__name__


def _check_table_type(table_type: TableType | None) -> None:
    if table_type is not None and table_type not in TABLE_TYPES:
        raise ValueError(
            f"table_type must be one of {', '.join(TABLE_TYPES)} (or None: taken from the "
            f"IO manager), got {table_type!r}"
        )
