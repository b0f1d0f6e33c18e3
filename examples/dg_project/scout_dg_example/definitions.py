"""The code location: every component and Python module under ``defs/``.

dg dev        # or: dagster dev -m scout_dg_example.definitions
"""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
