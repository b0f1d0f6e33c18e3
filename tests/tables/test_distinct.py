"""distinct_count: exactly count_distinct's count, in any pieces, nulls not
values; the column is read a second time only when two values hash alike."""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from scout_dagster.tables.distinct import distinct_count

#: Two different strings with one hash: positions 64 apart share their words.
ALIKE = ["a" + "-" * 63 + "b", "b" + "-" * 63 + "a"]


def counted(chunks: list[pa.Array]) -> tuple[tuple[int, int], int]:
    """distinct_count's answer, and how often it read the chunks again."""
    reads: list[int] = []

    def again() -> Iterable[pa.Array]:
        reads.append(1)
        return iter(chunks)

    return distinct_count(iter(chunks), again=again), len(reads)


def expected(chunks: list[pa.Array]) -> tuple[int, int]:
    every = (
        pa.chunked_array(chunks, type=chunks[0].type)
        if chunks
        else pa.chunked_array([], pa.string())
    )
    valid = len(every) - every.null_count
    return valid, pc.count_distinct(every, mode="only_valid").as_py()


def test_distinct_values_in_any_pieces_are_counted_in_one_read() -> None:
    values = [f"company{i}.example.com" for i in range(40_000)] + ["", "name:ä"]
    whole = pa.array(values, pa.string())
    sliced = [whole.slice(0, 3), whole.slice(3, 4_000), whole.slice(4_003)]
    for chunks in ([whole], sliced, [pa.array(values, pa.large_string())]):
        assert counted(chunks) == ((40_002, 40_002), 0)
    assert counted([]) == ((0, 0), 0)


@pytest.mark.parametrize(
    "chunks",
    [
        [["a", "b", "a"]],
        [["a", "b"], ["c", "b"]],  # the repeat in another piece
        [["", "x", ""]],  # the empty string twice
        [["x", None, "y", None, "x"]],  # nulls are not values, nor repeats
        [ALIKE],  # alike hashes, different values: nothing repeats
        [[*ALIKE, ALIKE[0]], [None, "z"]],
        [[*(f"id-{i}" for i in range(40_000)), "id-0"]],  # far apart, across slices
        [["same"] * 50_000],  # every value a repeat
    ],
)
def test_repeats_and_alike_hashes_are_counted_exactly_on_a_second_read(
    chunks: list[list[str | None]],
) -> None:
    arrays = [pa.array(c, pa.string()) for c in chunks]
    assert counted(arrays) == (expected(arrays), 1)
    large = [pa.array(c, pa.large_string()).slice(0) for c in chunks]
    assert counted(large) == (expected(large), 1)


def test_nulls_alone_are_no_values() -> None:
    array = pa.array(["a", None, "b", None, None], pa.string())
    assert counted([array]) == ((2, 2), 0)
    assert counted([array.slice(1)]) == ((1, 1), 0)
    assert counted([pa.array([None, None], pa.string())]) == ((0, 0), 0)


def test_other_types_are_refused() -> None:
    with pytest.raises(TypeError, match="string or binary columns"):
        distinct_count(iter([pa.array([1, 2])]), again=list)
