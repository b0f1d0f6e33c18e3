"""Which allocator Arrow uses in a process that runs steps.

pyarrow's default pool is mimalloc, which hands freed memory back to the
system soon after a large table is freed; the next large allocations fault
it back in. In a step that reads a run (the JSON reader's pieces freed while
its tables, the data version's copies and the Parquet write allocate) that
measured 0.49 s against 0.32 s with jemalloc for 100k entities
(``benchmarks/e2e.py``, docs/benchmarks.md). The resource's
``arrow_memory_pool`` picks the pool, as a run's resources are set up (not a
sensor's); ``ARROW_DEFAULT_MEMORY_POOL``, pyarrow's own variable, wins where
it is set.
"""

from __future__ import annotations

import contextlib
import os
from typing import Literal

__all__ = [
    "ARROW_POOL_ENV",
    "MemoryPoolName",
    "pool_chosen_by_environment",
    "use_memory_pool",
]

#: pyarrow's own choice of pool, read when pyarrow is imported.
ARROW_POOL_ENV = "ARROW_DEFAULT_MEMORY_POOL"
MemoryPoolName = Literal["jemalloc", "mimalloc", "system", "unchanged"]


def use_memory_pool(name: str) -> str:
    """Make ``name`` this process's default Arrow pool (``unchanged``: leave
    it), unless ``ARROW_DEFAULT_MEMORY_POOL`` chose one; a pool this pyarrow
    was built without leaves the default as it is. Gives the backend in use
    (the caller says so when it is not the one asked for)."""
    import pyarrow as pa

    if name != "unchanged" and not pool_chosen_by_environment():
        pool = {
            "jemalloc": pa.jemalloc_memory_pool,
            "mimalloc": pa.mimalloc_memory_pool,
            "system": pa.system_memory_pool,
        }[name]
        with contextlib.suppress(NotImplementedError):  # not in this build: the default stays
            pa.set_memory_pool(pool())
    return str(pa.default_memory_pool().backend_name)


def pool_chosen_by_environment() -> bool:
    return bool(os.environ.get(ARROW_POOL_ENV))
