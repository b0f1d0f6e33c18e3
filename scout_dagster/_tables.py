"""A re-export shim: the tables are in :mod:`scout_dagster.tables` now.

Only ``_dagster/_execution.py`` still imports these names from here; this
module goes once it imports them from ``scout_dagster.tables`` itself.
"""

from .tables.findall import FindAllBody, read_findall
from .tables.provenance import Provenance
from .tables.schemas import entity_columns
from .tables.search import search_tables

__all__ = ["FindAllBody", "Provenance", "entity_columns", "read_findall", "search_tables"]
