"""Whether the strings of a column are all distinct, in little memory. No Dagster.

The unique-id check of a million spooled entities asks one question: is any
id repeated? ``pyarrow.compute.count_distinct`` answers it exactly, but its
hash table keeps a copy of every distinct id beside the slots: +95 MB at a
million ids, the step's peak (``benchmarks/e2e.py``). Here each id is
hashed to 64 bits instead (tabulation hashing, vectorized with numpy over the
column's own buffers, a batch at a time), and only the hashes are kept and
sorted: 8 bytes an id, about +20 MB at a million, in less time.

Distinct hashes prove distinct ids (equal ids hash alike), so "all distinct"
is exact. Repeated hashes are a repeated id or, rarely, two ids that hash
alike: :func:`all_distinct` then says it cannot tell (None), and the caller
counts exactly.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["all_distinct"]

#: Byte positions with a table of their own (later ones reuse them, cyclically).
_POSITIONS = 64
#: A fixed seed: the same ids hash alike in every process (not that it matters
#: for a yes/no within one column, but a rerun behaves the same).
_SEED = 0x5C0_D15
#: Values hashed at a time: the temporaries are 16 bytes per byte of them
#: (~6 MB for ids of 25 bytes), whatever the size of the pieces given.
_SLICE_ROWS = 16_384


def all_distinct(chunks: Iterable[pa.Array]) -> tuple[int, bool | None]:
    """The non-null values in ``chunks`` (string or binary arrays, in any
    pieces) and whether they are all distinct: True (exact), or None when two
    hash alike (a repeat, or a collision: count them exactly). Nulls are not
    values."""
    tables = _tables()
    hashes = [
        _hashes(tables, valid.slice(start, _SLICE_ROWS))
        for chunk in chunks
        for valid in [pc.drop_null(chunk)]
        for start in range(0, len(valid), _SLICE_ROWS)
    ]
    every = np.concatenate(hashes) if hashes else np.empty(0, np.uint64)
    del hashes
    every.sort()
    repeated = bool(every.size > 1 and (every[1:] == every[:-1]).any())
    return int(every.size), None if repeated else True


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
        raise TypeError(f"all_distinct reads string or binary columns, not {values.type}")
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
