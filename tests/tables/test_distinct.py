"""all_distinct: "all distinct" is exact; a repeat, or two ids that hash
alike, is "cannot tell" (None), never "distinct"; nulls are not values."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from scout_dagster.tables.distinct import all_distinct


def test_distinct_strings_are_all_distinct_in_any_pieces() -> None:
    values = [f"company{i}.example.com" for i in range(10_000)] + ["", "name:ä"]
    whole = pa.array(values, pa.string())
    sliced = [whole.slice(0, 3), whole.slice(3, 4_000), whole.slice(4_003)]
    assert all_distinct([whole]) == (10_002, True)
    assert all_distinct(sliced) == (10_002, True)
    assert all_distinct([pa.array(values, pa.large_string())]) == (10_002, True)
    assert all_distinct([]) == (0, True)


@pytest.mark.parametrize(
    "chunks",
    [
        [["a", "b", "a"]],
        [["a", "b"], ["c", "b"]],  # the repeat in another piece
        [["", "x", ""]],  # the empty string twice
        [["company1.example.com"], ["x"], ["company1.example.com"]],
    ],
)
def test_a_repeated_value_is_never_all_distinct(chunks: list[list[str]]) -> None:
    arrays = [pa.array(c, pa.string()) for c in chunks]
    assert all_distinct(arrays) == (sum(map(len, chunks)), None)


def test_a_repeat_far_apart_in_one_large_piece_is_found() -> None:
    # The piece is hashed in slices: a repeat between two slices still counts.
    values = [f"id-{i}" for i in range(40_000)]
    assert all_distinct([pa.array(values, pa.string())]) == (40_000, True)
    values[-1] = values[0]
    assert all_distinct([pa.array(values, pa.string())]) == (40_000, None)
    with_nulls = pa.array([None, *values], pa.large_string()).slice(1)
    assert all_distinct([with_nulls]) == (40_000, None)


def test_nulls_are_not_values_and_not_repeats() -> None:
    array = pa.array(["a", None, "b", None, None], pa.string())
    assert all_distinct([array]) == (2, True)
    assert all_distinct([array.slice(1)]) == (1, True)
    assert all_distinct([pa.array([None, None], pa.string())]) == (0, True)


def test_two_ids_that_hash_alike_are_cannot_tell_not_distinct() -> None:
    # Positions 64 apart share their words, so swapping the bytes there gives
    # two different strings with one hash: the answer must be None.
    one, other = "a" + "-" * 63 + "b", "b" + "-" * 63 + "a"
    assert one != other
    assert all_distinct([pa.array([one, other], pa.string())]) == (2, None)
    assert pc.count_distinct(pa.array([one, other])).as_py() == 2


def test_other_types_are_refused() -> None:
    with pytest.raises(TypeError, match="string or binary columns"):
        all_distinct([pa.array([1, 2])])
