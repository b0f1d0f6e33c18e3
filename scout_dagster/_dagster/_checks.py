"""The asset checks of a Scout run's primary table (entities, or results).

``not_empty``, ``unique_<id>`` and ``has_source_url``, evaluated on the table
the run produced, in the same step. Blocking checks (``blocking_checks=True``)
stop downstream assets of a run that came back empty or broken; on a
partitioned asset the checks are partitioned with it.
"""

from __future__ import annotations

import dataclasses
import threading
import warnings
from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING

from dagster import AssetCheckResult, AssetCheckSpec, AssetKey, MetadataValue, PartitionsDefinition

if TYPE_CHECKING:  # tables exist only where runs execute; definitions need no pyarrow
    import pyarrow as pa

    from ..tables.spool import SpooledTable

__all__ = ["CheckEvaluation", "check_results", "check_specs"]


def check_specs(
    key: AssetKey,
    id_column: str,
    *,
    blocking: bool,
    partitions_def: PartitionsDefinition | None,
) -> list[AssetCheckSpec]:
    described = {
        "not_empty": "The run returned at least one row.",
        f"unique_{id_column}": f"No two rows share a {id_column}.",
        "has_source_url": "Every row names its source URL.",
    }
    with warnings.catch_warnings():
        # A partitions_def on a check spec is a preview in Dagster 1.13; it is
        # what lets a partition's check results sit with that partition.
        warnings.simplefilter("ignore")
        return [
            AssetCheckSpec(
                name,
                asset=key,
                description=description,
                blocking=blocking,
                partitions_def=partitions_def,
            )
            for name, description in described.items()
        ]


@dataclasses.dataclass(frozen=True)
class CheckFigures:
    """What the checks count in a table: all they need of it."""

    rows: int
    #: None when the unique check is not asked for (the one costly count).
    duplicates: int | None
    missing_url: int


def count_checks(
    table: pa.Table | SpooledTable, id_column: str, *, unique: bool = True
) -> CheckFigures:
    from ..tables.spool import SpooledTable

    if isinstance(table, SpooledTable):
        return _count_spooled(table, id_column, unique=unique)
    missing_url = table.column("source_url").null_count
    duplicates = None
    if unique:
        ids = table.column(id_column)
        # Nulls are not ids (count_distinct's rule). unique() is one hash
        # pass; count_distinct over a table's many chunks measured ten times
        # slower at a million rows.
        duplicates = table.num_rows - (len(ids.unique()) - (1 if ids.null_count else 0))
    return CheckFigures(rows=table.num_rows, duplicates=duplicates, missing_url=missing_url)


def _count_spooled(table: SpooledTable, id_column: str, *, unique: bool) -> CheckFigures:
    """A spooled table's figures, read from its file in one pass: the ids
    hashed as they are read (:mod:`~scout_dagster.tables.distinct`: 8 bytes
    an id, not a copy of each); read again only when two ids hash alike, to
    count those exactly."""
    from ..tables.distinct import distinct_count

    if not unique:
        missing_url = sum(b.column(0).null_count for b in table.batches(["source_url"], rows=0))
        return CheckFigures(rows=table.num_rows, duplicates=None, missing_url=missing_url)
    missing_url = 0

    def ids_counting_urls() -> Iterator[pa.Array]:
        nonlocal missing_url
        for batch in table.batches([id_column, "source_url"], rows=0):
            missing_url += batch.column("source_url").null_count
            yield batch.column(id_column)

    def ids_again() -> Iterator[pa.Array]:
        return (batch.column(0) for batch in table.batches([id_column], rows=0))

    # The first pass reads every batch, so missing_url is whole after it.
    _, distinct = distinct_count(ids_counting_urls(), again=ids_again)
    # Nulls are not ids (count_distinct's rule, as for a table in memory).
    return CheckFigures(
        rows=table.num_rows, duplicates=table.num_rows - distinct, missing_url=missing_url
    )


class CheckEvaluation:
    """The ``selected`` checks of a table (their names), counted on a thread
    of their own from the moment it is made, while the step hands its tables
    to their IO managers: at a million rows the count takes about half as long
    as the Parquet write (both release the GIL), so the two run side by side.
    :meth:`results` waits for them; a step that fails before asking waits
    for the count (:meth:`wait`) before its tables' spool files go, and
    reports nothing of it.

    A spooled table (:mod:`~scout_dagster.tables.spool`) is counted the same
    way: its count holds 8 bytes an id (:func:`_count_spooled`), so beside the
    data version and the write it adds little to the step's peak."""

    def __init__(
        self,
        key: AssetKey,
        table: pa.Table | SpooledTable,
        id_column: str,
        selected: Collection[str],
    ) -> None:
        self._key = key
        self._id_column = id_column
        self._selected = frozenset(selected)
        self._figures: CheckFigures | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._count, args=(table,), name="scout-checks", daemon=True
        )
        self._thread.start()

    def _count(self, table: pa.Table | SpooledTable) -> None:
        unique = f"unique_{self._id_column}" in self._selected
        try:
            self._figures = count_checks(table, self._id_column, unique=unique)
        except BaseException as exc:  # handed to the step's thread by results()
            self._error = exc

    def wait(self) -> None:
        """Until the count is done (its table may be let go then)."""
        self._thread.join()

    def results(self) -> list[AssetCheckResult]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._figures is not None
        return [
            result
            for result in _results(self._key, self._figures, self._id_column)
            if result.check_name in self._selected
        ]


def check_results(
    key: AssetKey, table: pa.Table | SpooledTable, id_column: str
) -> list[AssetCheckResult]:
    """Every check of ``table``, counted on the calling thread."""
    return _results(key, count_checks(table, id_column), id_column)


def _results(key: AssetKey, figures: CheckFigures, id_column: str) -> list[AssetCheckResult]:
    results = [
        AssetCheckResult(
            asset_key=key,
            check_name="not_empty",
            passed=figures.rows > 0,
            metadata={"rows": MetadataValue.int(figures.rows)},
        )
    ]
    if figures.duplicates is not None:
        results.append(
            AssetCheckResult(
                asset_key=key,
                check_name=f"unique_{id_column}",
                passed=figures.duplicates == 0,
                metadata={"duplicates": MetadataValue.int(figures.duplicates)},
            )
        )
    results.append(
        AssetCheckResult(
            asset_key=key,
            check_name="has_source_url",
            passed=figures.missing_url == 0,
            metadata={"rows_without_source_url": MetadataValue.int(figures.missing_url)},
        )
    )
    return results
