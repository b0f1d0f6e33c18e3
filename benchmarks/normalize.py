"""FindAll response bytes to Parquet: our path against two baselines, in one run.

    .venv/bin/python -m benchmarks.normalize [--sizes 100000 1000000] [--repeat 3]
                                             [--candidates]

For each size, a completed FindAll run with that many entities is written to
a temporary file (as the server would send it), and three paths turn it into
a Parquet file, each in a fresh subprocess so peak memory is its own:

- ours: ``findall_tables`` (pyarrow's JSON reader against the explicit schema,
  the big arrays in pieces on every core, ids and provenance vectorized) and
  ``ParquetStore.write`` of the entities and citations tables;
- ours-whole: the same with the document read whole on one thread (the
  piece reader off): what the pieces are worth;
- pandas: ``json.loads`` + ``pandas.json_normalize`` + ``to_parquet``;
- arrow-ndjson: pyarrow's native JSON reader on the same entities as NDJSON
  (the data pre-converted outside the timing) + ``pyarrow.parquet.write_table``.

Printed per path: best wall time of ``--repeat`` runs, rows per second, and
peak resident memory above the process's baseline once the input bytes are
loaded; then our speed and memory as ratios of the pandas path's, and the piece
reader's as ratios of the whole read's.
Targets (issue 3): at 1M entities at least 4x the pandas speed and at most a
third of its peak memory.

With ``--candidates`` each response also carries a matched candidate per
entity (two cited fields each, as the emulator sends them): ours then writes
the citations table too, while the baselines still normalize only the
entities.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULT_PREFIX = "RESULT "
CITIES = ["San Francisco, California", "New York, New York", "Austin, Texas", "London, UK"]


def make_response(n: int, *, candidates: bool = False) -> bytes:
    """A completed FindAll run object with ``n`` entities, as JSON bytes; with
    ``candidates``, one matched candidate per entity, each with two cited
    fields (as the emulator sends them), after the entities."""
    entities = [
        {
            "name": f"Company {i}",
            "website": f"https://company{i}.example.com",
            "headquarters": CITIES[i % len(CITIES)],
            "founded_year": 1990 + i % 35,
            "headcount": 10 + (i * 37) % 5000,
            "source": f"https://en.wikipedia.org/wiki/Company_{i}",
        }
        for i in range(n)
    ]
    run = {
        "findall_id": "fa-benchmark",
        "status": {
            "status": "completed",
            "is_active": False,
            "termination_reason": "match_limit_met",
        },
        "query": "benchmark companies",
        "entities": entities,
        "count": n,
        "credits": 5 + n,
        "output_schema": SCHEMA,
        "candidates": [_candidate(i) for i in range(n)] if candidates else None,
        "createdAt": "2026-01-01T00:00:00Z",
        "completedAt": "2026-01-01T00:10:00Z",
    }
    return json.dumps(run).encode()


def _candidate(i: int) -> dict[str, object]:
    return {
        "candidate_id": f"cand-{i}",
        "name": f"Company {i}",
        "url": f"https://company{i}.example.com",
        "description": "A company that builds AI infrastructure.",
        "match_status": "matched",
        "output": {"name": {"value": f"Company {i}", "type": "enrichment"}},
        "basis": [
            {
                "field": field,
                "citations": [
                    {
                        "title": f"Company {i} - Wikipedia",
                        "url": f"https://en.wikipedia.org/wiki/Company_{i}",
                        "excerpts": [f"Company {i} is headquartered in {CITIES[i % 4]}."],
                    }
                ],
                "reasoning": "The source states it.",
                "confidence": "high",
            }
            for field in ("name", "headquarters")
        ],
    }


SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "website": {"type": "string"},
        "headquarters": {"type": "string"},
        "founded_year": {"type": "integer"},
        "headcount": {"type": "integer"},
    },
}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    # VmHWM, not ru_maxrss: ru_maxrss keeps the parent's high-water mark across
    # fork and exec, which would charge this child for the parent's memory.
    with open("/proc/self/status") as f:
        line = next(x for x in f if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def run_path(path: str, input_file: str, out_dir: str) -> None:
    """Child process: run one path once and print its figures."""
    import datetime as dt

    import pandas as pd
    import pyarrow as pa
    import pyarrow.json as pa_json
    import pyarrow.parquet as pq

    from scout_dagster import FindAllRequest, ParquetStore
    from scout_dagster.tables import json_reader
    from scout_dagster.tables.findall import findall_tables
    from scout_dagster.tables.provenance import Provenance
    from scout_dagster.tables.schemas import entity_columns

    data = Path(input_file).read_bytes()
    _ = (pd, pa)  # imported before the baseline so no path pays for imports
    baseline = rss_mb()
    started = time.perf_counter()
    if path == "ours-whole":
        json_reader.SPLIT_MIN_BYTES = len(data) + 1  # no pieces: one whole-document read
    if path in ("ours", "ours-whole"):
        columns = entity_columns(FindAllRequest("benchmark companies", output_schema=SCHEMA))
        provenance = Provenance("fa-benchmark", "benchmark companies", dt.datetime.now(dt.UTC))
        tables = findall_tables(data, columns, provenance)
        store = ParquetStore(out_dir)
        store.write("entities", tables.entities)
        store.write("citations", tables.citations)
        rows = tables.entities.num_rows
        assert tables.path == "document", tables.path
    elif path == "pandas":
        decoded = json.loads(data)
        frame = pd.json_normalize(decoded["entities"])
        frame.to_parquet(os.path.join(out_dir, "entities.parquet"))
        rows = len(frame)
    elif path == "arrow-ndjson":
        table = pa_json.read_json(io.BytesIO(data))
        pq.write_table(table, os.path.join(out_dir, "entities.parquet"))
        rows = table.num_rows
    else:
        raise SystemExit(f"unknown path {path}")
    elapsed = time.perf_counter() - started
    print(
        RESULT_PREFIX
        + json.dumps({"seconds": elapsed, "rows": rows, "peak_mb": peak_mb() - baseline})
    )


def measure(path: str, input_file: str, repeat: int) -> dict[str, float]:
    """Fastest time and highest peak memory of ``repeat`` fresh processes."""
    runs = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as out:
            done = subprocess.run(
                [sys.executable, "-m", "benchmarks.normalize", "--child", path, input_file, out],
                capture_output=True,
                text=True,
            )
        if done.returncode != 0:
            raise SystemExit(f"the {path} path failed:\n{done.stderr}")
        line = next(x for x in done.stdout.splitlines() if x.startswith(RESULT_PREFIX))
        runs.append(json.loads(line[len(RESULT_PREFIX) :]))
    return {
        "seconds": min(r["seconds"] for r in runs),
        "rows": runs[0]["rows"],
        "peak_mb": max(r["peak_mb"] for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--candidates",
        action="store_true",
        help="responses carry a matched candidate per entity (ours also writes its citations)",
    )
    parser.add_argument(
        "--child", nargs=3, metavar=("PATH", "INPUT", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        run_path(*args.child)
        return

    print(f"{'entities':>9} {'path':<13} {'seconds':>8} {'rows/s':>12} {'peak MB':>8}")
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as work:
            response = Path(work, "response.json")
            response.write_bytes(make_response(size, candidates=args.candidates))
            response_mb = response.stat().st_size / 2**20
            ndjson = Path(work, "entities.ndjson")
            entities = json.loads(response.read_bytes())["entities"]
            ndjson.write_text("\n".join(json.dumps(e) for e in entities) + "\n")
            del entities
            results = {
                "ours": measure("ours", str(response), args.repeat),
                "ours-whole": measure("ours-whole", str(response), args.repeat),
                "pandas": measure("pandas", str(response), args.repeat),
                "arrow-ndjson": measure("arrow-ndjson", str(ndjson), args.repeat),
            }
        for name, figures in results.items():
            rate = figures["rows"] / figures["seconds"]
            print(
                f"{size:>9} {name:<13} {figures['seconds']:>8.3f} {rate:>12,.0f} "
                f"{figures['peak_mb']:>8.0f}"
            )
        print(f"{size:>9} {_compare(results, 'pandas')} (response {response_mb:.0f} MB)")
        print(f"{size:>9} {_compare(results, 'ours-whole')}")


def _compare(results: dict[str, dict[str, float]], baseline: str) -> str:
    """Our speed and peak memory as ratios of ``baseline``'s."""
    speedup = results[baseline]["seconds"] / results["ours"]["seconds"]
    memory = results["ours"]["peak_mb"] / max(results[baseline]["peak_mb"], 1e-9)
    return f"ours vs {baseline}: {speedup:.1f}x the speed, {memory:.2f}x the peak memory"


if __name__ == "__main__":
    main()
