"""Read the Parquet tables the assets wrote, with plain pandas: no Dagster needed.

python -m examples.read_back [base_path]
"""

import os
import sys
from pathlib import Path

import pandas as pd


def main(base: str) -> None:
    root = Path(base)
    for table in sorted(p for p in root.iterdir() if p.is_dir()):
        if not any(table.rglob("*.parquet")):
            continue
        frame = pd.read_parquet(table)
        print(f"{table.name}: {len(frame)} rows, columns {list(frame.columns)}")
    report = next(root.glob("ev_market_report/**/report.md"), None)
    if report is not None:
        print(f"\nreport ({report}):\n" + report.read_text()[:600])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SCOUT_DAGSTER_DATA", "data/scout"))
