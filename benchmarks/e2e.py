"""The FindAll asset end to end, as a user runs it, against a hand-written Dagster asset.

    .venv/bin/python -m benchmarks.e2e [--sizes 1k 10k 100k 1M 1M+c] [--rounds 5]
                                       [--candidates] [--quick] [--import-rounds 5]

A loopback HTTP server (standard library, a thread of this process) serves a
FindAll run that is completed from the first look, the way the contract and
the emulator do: ``POST /v1/findall/runs`` answers a queued run,
``GET /v1/findall/runs/{id}`` the completed run (bytes built once per size,
as ``benchmarks.normalize.make_response`` builds them), and
``GET …/events`` one ``findall.status`` event whose data is the whole
completed run (nested, as the emulator sends it), then the end of the stream
(a JSON array of the same event with ``Accept: application/json``).

Two assets are materialized against it, each in a fresh ``python`` process
per round, with ``dagster.materialize`` on an ephemeral instance:

- ours: ``build_findall_assets(name, query, output_schema=..., limit=n)``
  with ``ScoutResource(api_key=..., base_url=<server>)`` and
  ``ScoutParquetIOManager(base_path=<tmp>)``: the package's own path;
- hand-written: an ``@asset`` that creates the run with ``httpx``, polls it
  every second until it is terminal, then ``json.loads`` +
  ``pandas.json_normalize(entities)`` + ``to_parquet``.

Per size (``1M+c``: a million entities and one matched candidate per entity
with two cited fields, as the emulator sends them) the table gives the median
over ``--rounds`` of the step time (STEP_START to STEP_SUCCESS in the
instance's event log) and of the peak resident memory (the child's highest
``VmHWM``, absolute: imports and Dagster included), with the ratios and the
targets' verdicts. Then where our step goes:

- in-process probes: the package's functions for each phase (create, the
  status read, the wait on the stream and its event decode, the final read
  and its parse, the tables, table metadata, data version, output
  conversion, the IO manager and its Parquet write, the checks), wrapped
  with timers in the child (a probe whose function is gone is left out and
  shown as ``-``); with each phase's peak memory (``VmHWM`` is reset at its
  start through ``/proc/self/clear_refs``; the overall peak is the highest
  ``VmHWM`` read, as the process would show it without the resets);
- the step's event log, as the time between consecutive events;
- the server's ledger: requests and megabytes sent per step.

Last, ``python -c "import definitions"`` against ``python -c "import
dagster"`` from the repository root, median of fresh processes.

Targets (the issue): at 1k and 10k ours takes at most the hand-written time;
at 100k at least 2x its speed; at 1M, with and without candidates, at least
5x its speed at no more than 0.25x its peak; importing ``definitions`` at
most 1.2x the time of importing ``dagster``.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import functools
import http.server
import importlib
import inspect
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.normalize import RESULT_PREFIX, SCHEMA, make_response

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "sk-bench"
QUERY = "benchmark companies"
RUN_ID = "fa-benchmark"  # make_response's
ASSET_NAME = "bench"
HAND_ASSET = "handwritten_entities"
CHILD_TIMEOUT_S = 1800
QUICK_SIZES = ["1k", "10k"]
DEFAULT_SIZES = ["1k", "10k", "100k", "1M", "1M+c"]


# ---------------------------------------------------------------- sizes


@dataclass(frozen=True)
class Size:
    entities: int
    candidates: bool

    @property
    def label(self) -> str:
        n = self.entities
        if n >= 1_000_000 and n % 1_000_000 == 0:
            text = f"{n // 1_000_000}M"
        elif n >= 1000 and n % 1000 == 0:
            text = f"{n // 1000}k"
        else:
            text = str(n)
        return text + ("+c" if self.candidates else "")


def parse_size(token: str) -> Size:
    """``1000``, ``10k``, ``1M``, ``1M+c`` (with candidates)."""
    match = re.fullmatch(r"(\d+)([kKmM]?)(\+c)?", token.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {token!r} (say 1000, 10k, 1M or 1M+c)")
    scale = {"": 1, "k": 1000, "m": 1_000_000}[match.group(2).lower()]
    return Size(int(match.group(1)) * scale, match.group(3) is not None)


# ---------------------------------------------------------------- the server


@dataclass
class Served:
    """What the server answers for the run: bytes built once per size."""

    run: bytes = b"{}"
    queued: bytes = b"{}"
    event_prefix: bytes = b""
    event_suffix: bytes = b""


@dataclass
class Ledger:
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def add(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(entry)

    def take(self) -> list[dict[str, Any]]:
        with self.lock:
            taken, self.requests = self.requests, []
        return taken


class LoopbackServer:
    """A FindAll run completed from the first look, on 127.0.0.1."""

    def __init__(self) -> None:
        self.served = Served()
        self.ledger = Ledger()
        handler = functools.partial(_Handler, self)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def serve(self, size: Size) -> float:
        """Build and serve the completed run of ``size``; its size in MB."""
        run = make_response(size.entities, candidates=size.candidates)
        self.served = Served(
            run=run,
            queued=json.dumps(
                {
                    "findall_id": RUN_ID,
                    "status": "queued",
                    "query": QUERY,
                    "entities": [],
                    "count": 0,
                    "credits": 0,
                    "output_schema": SCHEMA,
                    "candidates": None,
                    "createdAt": "2026-01-01T00:00:00Z",
                    "completedAt": None,
                }
            ).encode(),
            # The event's data is the whole run, on one line (nested, as the emulator
            # sends it), written around the run's bytes rather than copied into them.
            event_prefix=b'{"type": "findall.status", "event_id": "1", '
            b'"timestamp": "2026-01-01T00:10:00Z", "data": ',
            event_suffix=b"}",
        )
        return len(run) / 2**20


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real server

    def __init__(self, server_: LoopbackServer, *args: Any, **kwargs: Any) -> None:
        self.loopback = server_
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _path(self) -> str:
        path = self.path.split("?", 1)[0].rstrip("/")
        return path.replace("/v1/lists/", "/v1/findall/", 1)

    def do_POST(self) -> None:
        started = time.perf_counter()
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self._path() == "/v1/findall/runs":
            self._send(200, "application/json", [self.loopback.served.queued], started)
        else:
            self._send(404, "application/json", [b'{"detail": "not found"}'], started)

    def do_GET(self) -> None:
        started = time.perf_counter()
        served = self.loopback.served
        path = self._path()
        if path == f"/v1/findall/runs/{RUN_ID}":
            self._send(200, "application/json", [served.run], started)
        elif path == f"/v1/findall/runs/{RUN_ID}/events":
            accept = self.headers.get("Accept", "")
            event = [served.event_prefix, served.run, served.event_suffix]
            if "application/json" in accept and "text/event-stream" not in accept:
                self._send(200, "application/json", [b"[", *event, b"]"], started)
            else:
                head = b"id: 1\nevent: findall.status\ndata: "
                self._send(200, "text/event-stream", [head, *event, b"\n\n"], started)
        else:
            self._send(404, "application/json", [b'{"detail": "not found"}'], started)

    def _send(self, status: int, content_type: str, parts: list[bytes], started: float) -> None:
        length = sum(len(p) for p in parts)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        self.send_header("x-request-id", f"req-{time.monotonic_ns()}")
        if content_type == "text/event-stream":
            self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        for part in parts:
            self.wfile.write(part)
        self.loopback.ledger.add(
            {
                "method": self.command,
                "path": self._path(),
                "accept": self.headers.get("Accept", ""),
                "status": status,
                "bytes": length,
                "seconds": time.perf_counter() - started,
            }
        )


# ---------------------------------------------------------------- probes (child)

#: (phase, module, attribute): the package's functions timed in our child. The
#: module is the one the caller looks the name up in. Indented phases are parts
#: of the phase above them.
PROBES: list[tuple[str, str, str]] = [
    ("create", "scout_dagster._client", "ScoutClient.create_findall_run"),
    ("status read (head)", "scout_dagster._client", "ScoutClient.get_findall_run"),
    ("wait/stream", "scout_dagster._follower", "RunFollower._wait"),
    ("  event decode (head)", "scout_dagster._client", "decode_event_without_entities"),
    # The look (or final read) of a completed run: downloaded and parsed at once.
    ("body read (download + parse)", "scout_dagster._client", "ScoutClient.read_findall_run"),
    ("  last parts (finish)", "scout_dagster.tables.findall", "FindAllBodyReader.finish"),
    ("read again whole (fallback)", "scout_dagster._client", "ScoutClient.get_findall_run_body"),
    ("tables (provenance)", "scout_dagster.tables.findall", "FindAllBody.tables"),
    ("table metadata", "scout_dagster._dagster._table_output", "table_metadata"),
    ("data version", "scout_dagster._dagster._table_output", "content_version"),
    ("output conversion", "scout_dagster._dagster._table_output", "as_output"),
    (
        "IO manager",
        "scout_dagster._dagster._io_manager",
        "ScoutParquetIOManager.handle_output",
    ),
    ("  Parquet write", "scout_dagster._storage", "ParquetStore.write"),
    # Counted on a thread of its own while the tables are written ("~": beside
    # the rows above, so not part of the step's sum of top-level phases).
    ("~ checks (own thread)", "scout_dagster._dagster._checks", "count_checks"),
]
SETUP = "step setup (start to create)"
OTHER = "other (step - top-level phases)"


def _status_kb() -> tuple[int, int]:
    """(VmRSS, VmHWM) of this process, in kB."""
    rss = hwm = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm


def _reset_hwm() -> bool:
    """Set VmHWM back to the current RSS (Linux: ``5`` to ``/proc/self/clear_refs``)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


class PeakTracker:
    """The peak resident memory of each phase, and of the process overall.

    At each phase's start VmHWM is read (every open phase and the overall
    peak take it), then reset to the current RSS, so that the VmHWM read at
    the phase's end (or at the next phase's start) is the peak since then.
    The overall peak is the highest VmHWM ever read: the VmHWM the process
    would show at its end without the resets. Where the reset is refused a
    phase's peak is the process's peak so far (an upper bound).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: dict[int, int] = {}
        self.tokens = 0
        self.peak_kb = _status_kb()[1]
        self.resets = True

    def _read(self) -> tuple[int, int]:
        rss, hwm = _status_kb()
        self.peak_kb = max(self.peak_kb, hwm)
        for token, peak in self.open.items():
            self.open[token] = max(peak, hwm)
        return rss, hwm

    def enter(self) -> tuple[int, int]:
        """(token, RSS at the start) of a phase."""
        with self.lock:
            self._read()
            self.resets = _reset_hwm() and self.resets
            rss, hwm = _status_kb()
            self.tokens += 1
            self.open[self.tokens] = hwm
            return self.tokens, rss

    def exit(self, token: int) -> int:
        """The phase's peak, in kB."""
        with self.lock:
            self._read()
            return self.open.pop(token)

    def overall_mb(self) -> float:
        with self.lock:
            self._read()
            return self.peak_kb / 1024


@dataclass
class PhaseCalls:
    calls: int = 0
    seconds: float = 0.0
    first_start: float | None = None  # time.time(), to place it against the event log
    peak_kb: int = 0  # highest RSS while it ran (any thread), over its calls
    rise_kb: int = 0  # most its peak rose above the RSS at its start, over its calls


class Phases:
    """Time and memory of named phases, from any thread."""

    def __init__(self, tracker: PeakTracker) -> None:
        self.tracker = tracker
        self.calls: dict[str, PhaseCalls] = {}
        self.lock = threading.Lock()

    @contextlib.contextmanager
    def span(self, phase: str) -> Iterator[None]:
        wall = time.time()
        token, rss = self.tracker.enter()
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            peak = self.tracker.exit(token)
            with self.lock:
                calls = self.calls.setdefault(phase, PhaseCalls())
                calls.calls += 1
                calls.seconds += elapsed
                calls.peak_kb = max(calls.peak_kb, peak)
                calls.rise_kb = max(calls.rise_kb, peak - rss)
                if calls.first_start is None:
                    calls.first_start = wall

    def figures(self) -> dict[str, dict[str, float]]:
        with self.lock:
            return {
                phase: {
                    "seconds": c.seconds,
                    "calls": c.calls,
                    "peak_mb": c.peak_kb / 1024,
                    "rise_mb": c.rise_kb / 1024,
                }
                for phase, c in self.calls.items()
            }


def install_probes(phases: Phases) -> list[str]:
    """Wrap each probed function so that its calls are a phase; the phases probed."""
    probed = []
    for phase, module_name, attribute in PROBES:
        try:
            module = importlib.import_module(module_name)
            owner: Any = module
            *outer, name = attribute.split(".")
            for part in outer:
                owner = getattr(owner, part)
            original = inspect.getattr_static(owner, name)
        except (ImportError, AttributeError):
            continue  # the package changed: this phase is not probed
        if isinstance(original, staticmethod | classmethod) or not callable(original):
            continue
        setattr(owner, name, _spanned(original, phase, phases))
        probed.append(phase)
    return probed


def _spanned(original: Callable[..., Any], phase: str, phases: Phases) -> Any:
    if inspect.isgeneratorfunction(original):

        @functools.wraps(original)
        def generator(*args: Any, **kwargs: Any) -> Iterator[Any]:
            with phases.span(phase):
                yield from original(*args, **kwargs)

        return generator

    @functools.wraps(original)
    def function(*args: Any, **kwargs: Any) -> Any:
        with phases.span(phase):
            return original(*args, **kwargs)

    return function


# ---------------------------------------------------------------- child


def run_child(path: str, url: str, out_dir: str, entities: int) -> None:
    """One materialization in this fresh process; prints its figures."""
    started = time.perf_counter()
    import dagster

    dagster_s = time.perf_counter() - started
    if path == "ours":
        import scout_dagster

        _ = scout_dagster
    else:
        import httpx
        import pandas

        _ = (httpx, pandas)
    import_s = time.perf_counter() - started

    tracker = PeakTracker()
    phases = Phases(tracker)
    if path == "ours":
        from scout_dagster import ScoutParquetIOManager, ScoutResource, build_findall_assets

        assets = build_findall_assets(ASSET_NAME, QUERY, output_schema=SCHEMA, limit=entities)
        resources: dict[str, Any] = {
            "scout": ScoutResource(api_key=API_KEY, base_url=url),
            "scout_io_manager": ScoutParquetIOManager(base_path=out_dir),
        }
        install_probes(phases)
    else:
        assets = hand_written_asset(url, out_dir, entities, phases)
        resources = {}

    before_mb = _status_kb()[1] / 1024
    pandas_before = "pandas" in sys.modules
    with dagster.DagsterInstance.ephemeral() as instance:
        wall_started = time.perf_counter()
        result = dagster.materialize([assets], resources=resources, instance=instance)
        materialize_s = time.perf_counter() - wall_started
        peak = tracker.overall_mb()
        assert result.success
        timeline = event_timeline(instance.all_logs(result.run_id))

    step_start = next(t for label, t in timeline if label == "STEP_START")
    step_end = next(t for label, t in timeline if label == "STEP_SUCCESS")
    figures = phases.figures()
    create = phases.calls.get("create")
    if path == "ours" and create is not None and create.first_start is not None:
        figures[SETUP] = {"seconds": create.first_start - step_start}
    out: dict[str, Any] = {
        "step_s": step_end - step_start,
        "peak_mb": peak,
        "before_materialize_mb": before_mb,
        "hwm_resets": tracker.resets,
        "pandas_imported_in_materialize": not pandas_before and "pandas" in sys.modules,
        "import_s": import_s,
        "import_dagster_s": dagster_s,
        "materialize_s": materialize_s,
        "timeline": [(label, t - step_start) for label, t in timeline],
        "rows": written_rows(out_dir),
        "phases": figures,
    }
    print(RESULT_PREFIX + json.dumps(out))


def hand_written_asset(url: str, out_dir: str, entities: int, phases: Phases) -> Any:
    """What a user writes without the package: create, poll every second,
    ``json.loads`` + ``pandas.json_normalize`` + ``to_parquet`` (with
    ``phases.span`` around each piece, to see where its time goes)."""
    import httpx
    import pandas as pd
    from dagster import Failure, MaterializeResult, asset

    span = phases.span

    # Not annotated: under `from __future__ import annotations` Dagster cannot
    # resolve a local name; it returns a MaterializeResult (no IO manager).
    @asset(name=HAND_ASSET)
    def handwritten_entities():
        with span("client setup"):
            headers = {"Authorization": f"Bearer {API_KEY}"}
            client = httpx.Client(base_url=url, headers=headers, timeout=300)
        with client:
            with span("create"):
                created = client.post(
                    "/v1/findall/runs",
                    json={"query": QUERY, "output_schema": SCHEMA, "limit": entities},
                )
                created.raise_for_status()
                run_id = created.json()["findall_id"]
            while True:
                with span("poll GET (download)"):
                    response = client.get(f"/v1/findall/runs/{run_id}")
                    response.raise_for_status()
                with span("json.loads"):
                    run = json.loads(response.content)
                    del response  # as `client.get(...).json()` would drop it
                status = run["status"]
                state = status.get("status") if isinstance(status, dict) else status
                if state in ("completed", "failed", "cancelled"):
                    break
                with span("sleep"):
                    time.sleep(1.0)
        if state != "completed":
            raise Failure(f"run {run_id} ended {state}")
        with span("json_normalize"):
            frame = pd.json_normalize(run["entities"])
        with span("to_parquet"):
            frame.to_parquet(os.path.join(out_dir, "entities.parquet"))
        return MaterializeResult(metadata={"dagster/row_count": len(frame)})

    return handwritten_entities


def event_timeline(records: Sequence[Any]) -> list[tuple[str, float]]:
    """(label, timestamp) of each event of the step, in order."""
    timeline: list[tuple[str, float]] = []
    for record in records:
        event = record.dagster_event
        if event is None:
            message = re.sub(r"\d[\d.,]*", "#", record.user_message or "").replace(RUN_ID, "ID")
            label = f"log: {message[:46]}"
        elif event.step_key is None:
            continue  # the run's own events, outside the step
        else:
            label = event.event_type_value
            data = event.event_specific_data
            name = getattr(data, "step_output_handle", None)
            if name is not None:
                label += f" {name.output_name}"
            elif getattr(data, "output_name", None):
                label += f" {data.output_name}"
            key = getattr(event, "asset_key", None)
            if key is not None and "OUTPUT" not in label:
                label += f" {key.to_user_string()}"
        timeline.append((label, record.timestamp))
    return timeline


def written_rows(out_dir: str) -> dict[str, int]:
    import pyarrow.parquet as pq

    rows: dict[str, int] = {}
    for file in sorted(Path(out_dir).rglob("*.parquet")):
        folder = file.parent.relative_to(out_dir)
        name = file.stem if folder == Path() else str(folder)
        rows[name] = pq.read_metadata(file).num_rows
    return rows


# ---------------------------------------------------------------- parent


def measure(path: str, server: LoopbackServer, size: Size) -> dict[str, Any]:
    """One round of ``path`` in a fresh process, with the server's ledger of it."""
    with tempfile.TemporaryDirectory() as out:
        server.ledger.take()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.e2e",
                "--child",
                path,
                server.url,
                out,
                str(size.entities),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=CHILD_TIMEOUT_S,
        )
    if done.returncode != 0:
        raise SystemExit(f"the {path} path failed at {size.label}:\n{done.stderr[-6000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith(RESULT_PREFIX))
    figures: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
    figures["requests"] = server.ledger.take()
    return figures


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class SizeResult:
    size: Size
    response_mb: float
    ours: list[dict[str, Any]]
    hand: list[dict[str, Any]]

    def step(self, path: str) -> float:
        return median([r["step_s"] for r in getattr(self, path)])

    def peak(self, path: str) -> float:
        return median([r["peak_mb"] for r in getattr(self, path)])


def verdict(result: SizeResult) -> str:
    size = result.size
    time_ratio = result.step("ours") / result.step("hand")
    speed = 1 / time_ratio
    peak_ratio = result.peak("ours") / result.peak("hand")
    if size.entities in (1000, 10_000) and not size.candidates:
        ok, target = time_ratio <= 1.0, "time <= 1.0x"
    elif size.entities == 100_000 and not size.candidates:
        ok, target = speed >= 2, "speed >= 2x"
    elif size.entities == 1_000_000:
        ok, target = speed >= 5 and peak_ratio <= 0.25, "speed >= 5x, peak <= 0.25x"
    else:
        return "- (no target)"
    return f"{'PASS' if ok else 'FAIL'} ({target})"


def print_table(results: Sequence[SizeResult], rounds: int) -> None:
    print(f"\nStep time and peak memory, median of {rounds} fresh processes per path and size")
    print(
        "| size | response MB | ours step s | hand-written s | ours/hand time | "
        "ours peak MB | hand-written peak MB | peak ratio | target |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in results:
        print(
            f"| {r.size.label} | {r.response_mb:.1f} | {r.step('ours'):.3f} | "
            f"{r.step('hand'):.3f} | {r.step('ours') / r.step('hand'):.2f}x | "
            f"{r.peak('ours'):.0f} | {r.peak('hand'):.0f} | "
            f"{r.peak('ours') / r.peak('hand'):.2f}x | {verdict(r)} |"
        )
    print("\nSpread of the step times (min-max, s):")
    for r in results:
        spans = {
            path: (min(x["step_s"] for x in runs), max(x["step_s"] for x in runs))
            for path, runs in (("ours", r.ours), ("hand", r.hand))
        }
        print(
            f"  {r.size.label:>6}: ours {spans['ours'][0]:.3f}-{spans['ours'][1]:.3f}, "
            f"hand-written {spans['hand'][0]:.3f}-{spans['hand'][1]:.3f}; "
            f"materialize() wall ours {median([x['materialize_s'] for x in r.ours]):.2f}, "
            f"hand-written {median([x['materialize_s'] for x in r.hand]):.2f}"
        )


def _phase_table(
    title: str,
    results: Sequence[SizeResult],
    path: str,
    phases: Sequence[str],
    show: Callable[[list[dict[str, float]]], str],
) -> None:
    """One row per phase, one column per size: ``show`` of the rounds' figures."""
    print(f"\n{title}")
    print("| phase | " + " | ".join(r.size.label for r in results) + " |")
    print("| --- |" + " ---: |" * len(results))
    for phase in phases:
        cells = []
        for r in results:
            figures = [x["phases"][phase] for x in getattr(r, path) if phase in x["phases"]]
            cells.append(show(figures) if figures else "-")
        print(f"| {phase} | " + " | ".join(cells) + " |")


def _seconds(figures: list[dict[str, float]]) -> str:
    return f"{median([f['seconds'] for f in figures]):.3f}"


def _memory(figures: list[dict[str, float]]) -> str:
    if "peak_mb" not in figures[0]:
        return "-"
    peak = median([f["peak_mb"] for f in figures])
    rise = median([f["rise_mb"] for f in figures])
    return f"{peak:.0f} (+{rise:.0f})"


MEMORY_NOTE = (
    "median MB: the highest RSS while the phase ran (any thread), and in brackets how far "
    "that rose above the RSS at its start"
)


def ours_phases(results: Sequence[SizeResult]) -> None:
    """Our step by phase (probes), with derived rows."""
    for r in results:
        for run in r.ours:
            phases = run["phases"]
            top = sum(f["seconds"] for p, f in phases.items() if not p.startswith((" ", "~")))
            phases[OTHER] = {"seconds": run["step_s"] - top}
            phases["step (event log)"] = {"seconds": run["step_s"]}
    order = [SETUP, *(phase for phase, _, _ in PROBES)]
    _phase_table(
        "Our step by phase, in-process probes (median s; indented rows are part of the row "
        "above; ~ rows run on a thread of their own beside the rows above; other: Dagster's "
        "own work in the step, events and metadata, the wait for the checks' thread, and "
        "what no probe covers)",
        results,
        "ours",
        [*order, OTHER, "step (event log)"],
        _seconds,
    )
    _phase_table(
        f"Our memory by phase ({MEMORY_NOTE})",
        results,
        "ours",
        [p for p, _, _ in PROBES],
        _memory,
    )


def hand_phases(results: Sequence[SizeResult]) -> None:
    order = [
        "client setup",
        "create",
        "poll GET (download)",
        "json.loads",
        "sleep",
        "json_normalize",
        "to_parquet",
    ]
    _phase_table("The hand-written step by phase (median s)", results, "hand", order, _seconds)
    _phase_table(
        f"The hand-written memory by phase ({MEMORY_NOTE})", results, "hand", order, _memory
    )


def print_timelines(results: Sequence[SizeResult]) -> None:
    """Our step's event log: time since the previous event, median per size."""
    print(
        "\nOur step's event log: seconds since the previous event (median; labels with digits as #)"
    )
    reference = results[0].ours[0]["timeline"]
    labels = [label for label, _ in reference]
    # From the resources' setup on: the planning events before it are the run's.
    first = next((i for i, x in enumerate(labels) if x.startswith("RESOURCE_INIT")), 0)
    print("| event | " + " | ".join(r.size.label for r in results) + " |")
    print("| --- |" + " ---: |" * len(results))
    for index, label in enumerate(labels):
        if index < first:
            continue
        cells = []
        for r in results:
            gaps = []
            for run in r.ours:
                line = run["timeline"]
                if len(line) == len(labels) and line[index][0] == label:
                    gaps.append(line[index][1] - (line[index - 1][1] if index else 0.0))
            cells.append(f"{median(gaps):.3f}" if gaps else "-")
        print(f"| {label} | " + " | ".join(cells) + " |")


def print_requests(results: Sequence[SizeResult]) -> None:
    print("\nRequests per step as the server saw them (first round): method path [accept] MB")
    for r in results:
        for path, runs in (("ours", r.ours), ("hand-written", r.hand)):
            parts = []
            for q in runs[0]["requests"]:
                events = q["path"].endswith("/events")
                what = f"events [{q['accept']}]" if events else q["path"]
                parts.append(f"{q['method']} {what} {q['bytes'] / 2**20:.1f}")
            total = sum(q["bytes"] for q in runs[0]["requests"]) / 2**20
            print(f"  {r.size.label:>6} {path:<12} {total:8.1f} MB: " + "; ".join(parts))


def import_times(rounds: int) -> tuple[float, float]:
    """Median wall time of ``python -c "import definitions"`` and of ``import dagster``.

    The repository's modules are byte-compiled first, as ``pip install``
    compiles an installed package and compiled dagster's: otherwise a fresh
    checkout, or one whose sources changed, compiles them on every import
    where ``PYTHONDONTWRITEBYTECODE`` is set, which no installed deployment does.
    """
    for folder in ("scout_dagster", "examples"):
        compileall.compile_dir(ROOT / folder, quiet=1)
    compileall.compile_file(ROOT / "definitions.py", quiet=1)
    times: dict[str, list[float]] = {"definitions": [], "dagster": []}
    for _ in range(rounds):
        for module in times:  # interleaved, so drift in the machine's load hits both
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", f"import {module}"],
                cwd=ROOT,
                check=True,
                timeout=300,
                capture_output=True,
            )
            times[module].append(time.perf_counter() - started)
    return median(times["definitions"]), median(times["dagster"])


def print_import_times(rounds: int) -> None:
    definitions_s, dagster_s = import_times(rounds)
    ratio = definitions_s / dagster_s
    cached = "off" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "on"
    print(
        f'\npython -c "import definitions": {definitions_s:.3f} s; '
        f'python -c "import dagster": {dagster_s:.3f} s (median of {rounds} '
        f"fresh processes each, both byte-compiled, bytecode writes {cached}): {ratio:.2f}x, "
        f"{'PASS' if ratio <= 1.2 else 'FAIL'} (target <= 1.2x)"
    )


def machine_load() -> str:
    try:
        with open("/proc/loadavg") as f:
            load = " ".join(f.read().split()[:3])
    except OSError:
        load = "?"
    return f"load average {load}, {os.cpu_count()} cores"


def busy_processes() -> str:
    """The processes using the CPU now (from top), other than this benchmark's."""
    try:
        top = subprocess.run(
            ["top", "-bn1", "-w", "200"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    lines = top.splitlines()
    try:
        start = next(i for i, x in enumerate(lines) if x.lstrip().startswith("PID"))
    except StopIteration:
        return "?"
    busy = []
    for line in lines[start + 1 :]:
        cols = line.split(None, 11)
        if len(cols) < 12:
            continue
        try:
            cpu = float(cols[8])
        except ValueError:
            continue
        if cpu >= 10 and cols[0] != str(os.getpid()) and "top" not in cols[11]:
            busy.append(f"{cols[11][:60]} ({cpu:.0f}%)")
    return "; ".join(busy[:5]) or "nothing else above 10% CPU"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        type=parse_size,
        nargs="+",
        default=None,
        help="entities per run: 1000, 10k, 1M; 1M+c with candidates "
        f"(default: {' '.join(DEFAULT_SIZES)})",
    )
    parser.add_argument("--rounds", type=int, default=None, help="per path and size (default 5)")
    parser.add_argument(
        "--candidates",
        action="store_true",
        help="every size also with a matched candidate per entity (a +c row beside it)",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"{' '.join(QUICK_SIZES)}, 2 rounds (to try it)"
    )
    parser.add_argument("--import-rounds", type=int, default=5)
    parser.add_argument(
        "--imports", action="store_true", help="only the load time of definitions against dagster's"
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path, url, out, entities = args.child
        run_child(path, url, out, int(entities))
        return

    if args.imports:
        print_import_times(args.import_rounds)
        return
    default_sizes = QUICK_SIZES if args.quick else DEFAULT_SIZES
    sizes: list[Size] = args.sizes or [parse_size(s) for s in default_sizes]
    if args.candidates:
        sizes = [s for base in sizes for s in (base, Size(base.entities, True))]
        sizes = list(dict.fromkeys(sizes))
    rounds = args.rounds or (2 if args.quick else 5)

    began = time.perf_counter()
    print(f"e2e benchmark: {' '.join(s.label for s in sizes)}, {rounds} rounds")
    print(f"before: {machine_load()}; busy: {busy_processes()}")
    results: list[SizeResult] = []
    with LoopbackServer() as server:
        for size in sizes:
            response_mb = server.serve(size)
            ours: list[dict[str, Any]] = []
            hand: list[dict[str, Any]] = []
            for _ in range(rounds):  # alternated, so load on the machine hits both
                ours.append(measure("ours", server, size))
                hand.append(measure("hand", server, size))
            result = SizeResult(size, response_mb, ours, hand)
            results.append(result)
            print(
                f"  {size.label}: ours {result.step('ours'):.3f} s, hand-written "
                f"{result.step('hand'):.3f} s ({time.perf_counter() - began:.0f} s so far; "
                f"{machine_load()})",
                flush=True,
            )
            check_rows(result)
        server.served = Served()
    print(f"after: {machine_load()}; busy: {busy_processes()}")

    print_table(results, rounds)
    ours_phases(results)
    hand_phases(results)
    print_timelines(results)
    print_requests(results)
    every_ours = [x for r in results for x in r.ours]
    every_hand = [x for r in results for x in r.hand]
    print(
        "\nImports in the measured children, before materialize() (median of every round): "
        f"ours dagster + scout_dagster {median([x['import_s'] for x in every_ours]):.2f} s "
        f"(dagster alone {median([x['import_dagster_s'] for x in every_ours]):.2f} s), "
        f"hand-written dagster + httpx + pandas {median([x['import_s'] for x in every_hand]):.2f}"
        " s; the step times above exclude them"
    )
    in_materialize = sum(x["pandas_imported_in_materialize"] for x in every_ours)
    print(
        f"pandas was imported during our materialize() in {in_materialize} of "
        f"{len(every_ours)} rounds: by the resource's set-up, before STEP_START (pyarrow "
        "would import it in the step's first parse otherwise), so not in the step times"
    )
    if not all(x["hwm_resets"] for x in every_ours + every_hand):
        print("VmHWM could not be reset here: a phase's peak is the process's peak so far")

    print_import_times(args.import_rounds)
    print(f"\ntotal {time.perf_counter() - began:.0f} s; {machine_load()}")


def check_rows(result: SizeResult) -> None:
    """Both paths wrote every entity (and ours a citation per cited field)."""
    n = result.size.entities
    for run in result.ours:
        rows = run["rows"]
        assert rows.get(f"{ASSET_NAME}_entities") == n, rows
        if result.size.candidates:
            assert rows.get(f"{ASSET_NAME}_citations", 0) > 0, rows
    for run in result.hand:
        assert run["rows"].get("entities") == n, run["rows"]


if __name__ == "__main__":
    main()
