"""How many distinct strings a column holds, exactly, in little memory. No Dagster.

The unique-id check of a million spooled entities counts distinct ids.
``pyarrow.compute.count_distinct`` counts them exactly, but its hash table
keeps a copy of every distinct id beside the slots: +95 MB at a million
ids, the step's peak (``benchmarks/e2e.py``). Here each id is hashed to 64
bits instead (tabulation hashing, vectorized with numpy over the column's
own buffers, a slice at a time), and only the hashes are kept and sorted:
8 bytes an id, about +20 MB at a million, in less time.

Equal ids hash alike, so an id whose hash no other id has is distinct from
every other: the count is exact from the hashes alone when none repeats.
When some repeat (a repeated id, or rarely two ids that hash alike), the
column is read once more and only the ids with a repeated hash are kept and
counted exactly with ``count_distinct``: a few, unless most ids repeat.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["distinct_count"]

#: Byte positions with a table of their own (later ones reuse them, cyclically).
_POSITIONS = 64
#: A fixed seed: the same ids hash alike in every process (not that it matters
#: for a yes/no within one column, but a rerun behaves the same).
_SEED = 0x5C0_D15
#: Values hashed at a time: the temporaries are 16 bytes per byte of them
#: (~6 MB for ids of 25 bytes), whatever the size of the pieces given.
_SLICE_ROWS = 16_384


def distinct_count(
    chunks: Iterable[pa.Array], again: Callable[[], Iterable[pa.Array]]
) -> tuple[int, int]:
    """The non-null values in ``chunks`` (string or binary arrays, in any
    pieces) and how many of them are distinct, exactly; ``again`` gives the
    same chunks once more, asked for only when two values hash alike. Nulls
    are not values."""
    tables = _tables()
    every = np.sort(_all_hashes(tables, chunks))
    repeated = np.unique(every[1:][every[1:] == every[:-1]])
    if not repeated.size:
        return int(every.size), int(every.size)
    # Every repeat of a value has a repeated hash; the values outside those
    # are distinct from all others.
    suspects = [
        pc.filter(values, pa.array(np.isin(_hashes(tables, values), repeated)))
        for values in _slices(again())
    ]
    suspected = pa.chunked_array(suspects, type=suspects[0].type)
    exact = pc.count_distinct(suspected, mode="only_valid").as_py()
    return int(every.size), int(every.size) - len(suspected) + exact


def _all_hashes(tables: tuple[np.ndarray, np.ndarray], chunks: Iterable[pa.Array]) -> np.ndarray:
    hashes = [_hashes(tables, values) for values in _slices(chunks)]
    return np.concatenate(hashes) if hashes else np.empty(0, np.uint64)


def _slices(chunks: Iterable[pa.Array]) -> Iterator[pa.Array]:
    """The non-null values of ``chunks``, :data:`_SLICE_ROWS` at a time."""
    for chunk in chunks:
        valid = pc.drop_null(chunk)
        for start in range(0, len(valid), _SLICE_ROWS):
            yield valid.slice(start, _SLICE_ROWS)


def _tables() -> tuple[np.ndarray, np.ndarray]:
    """A random 64-bit word per (position, byte) and per length."""
    rng = np.random.default_rng(_SEED)
    words = np.iinfo(np.uint64).max
    by_byte = rng.integers(0, words, size=_POSITIONS * 256, dtype=np.uint64, endpoint=True)
    by_length = rng.integers(0, words, size=_POSITIONS, dtype=np.uint64, endpoint=True)
    return by_byte, by_length


def _hashes(tables: tuple[np.ndarray, np.ndarray], values: pa.Array) -> np.ndarray:
    """The hash of each string of ``values`` (no nulls): the XOR of its bytes'
    words (by position) and of its length's word."""
    by_byte, by_length = tables
    if pa.types.is_large_string(values.type) or pa.types.is_large_binary(values.type):
        offset_type: type[np.signedinteger] = np.int64
    elif pa.types.is_string(values.type) or pa.types.is_binary(values.type):
        offset_type = np.int32
    else:
        raise TypeError(f"distinct_count reads string or binary columns, not {values.type}")
    count = len(values)
    _, offsets_buffer, data_buffer = values.buffers()
    offsets = np.frombuffer(
        offsets_buffer,
        dtype=offset_type,
        count=count + 1,
        offset=values.offset * offset_type().itemsize,
    ).astype(np.int64)
    # No data buffer: every value is empty (none has a byte).
    data = (
        np.frombuffer(data_buffer, dtype=np.uint8)
        if data_buffer is not None
        else np.empty(0, np.uint8)
    )
    first, end = int(offsets[0]), int(offsets[-1])
    lengths = np.diff(offsets)
    starts = offsets[:-1] - first
    # Each byte's position within its string, then its word's index.
    index = np.arange(end - first, dtype=np.int64)
    index -= np.repeat(starts, lengths)
    index %= _POSITIONS
    index <<= 8
    index += data[first:end]
    words = by_byte[index]
    hashes: np.ndarray = by_length[lengths % _POSITIONS]
    filled = lengths > 0
    if words.size:
        # Empty strings have no bytes, so the others' starts cut the words
        # exactly into strings.
        hashes[filled] ^= np.bitwise_xor.reduceat(words, starts[filled])
    return hashes
