"""How soon a finished run is seen, and how many requests it costs: stream against polling.

    .venv/bin/python -m benchmarks.wait [--runs 10] [--duration 1.0]

Against an emulator on a real-time clock (speed 1), each run is created,
followed to its end by ``RunFollower`` and read once more in full, exactly as
the FindAll asset does. Printed per mode:

- latency: from the run's completion on the server (its creation time plus
  its fixed queued and running phases, on the emulator's clock) to the moment
  the follower returned, in milliseconds (median and worst);
- requests per run, counted in the emulator's ledger.

Polling (the fallback when a stream is unavailable) is the baseline measured in
the same run. Targets (issue 3): with the stream, under 50 ms and at most 3
requests per run (create, stream, final read).
"""

from __future__ import annotations

import argparse
import statistics

from scout_dagster import FindAllRequest, RunFollower, ScoutClient
from scout_dagster.emulator import EmulatorConfig, EmulatorServer
from scout_dagster.tables.findall import read_findall
from scout_dagster.tables.schemas import entity_columns


def measure(
    server: EmulatorServer, *, use_stream: bool, runs: int
) -> tuple[list[float], list[int]]:
    latencies: list[float] = []
    requests: list[int] = []
    client = ScoutClient(server.api_key, base_url=server.url)
    follower = RunFollower(client, deadline_s=120, use_stream=use_stream)
    config = server.config
    for index in range(runs):
        before = len(server.ledger.requests)
        request = FindAllRequest(f"benchmark query {index}", limit=5)
        columns = entity_columns(request)
        result = follower.run_findall(request)
        seen = server.clock.now()
        # the asset's read
        client.get_findall_run_body(
            result.run.findall_id,
            check=lambda raw: read_findall(raw, columns),  # noqa: B023 (called at once)
        )
        snapshot = server.ledger.run(result.run.findall_id)
        completed = snapshot.created_at + config.queued_s + config.findall_duration_s
        latencies.append((seen - completed) * 1000 / config.speed)
        requests.append(len(server.ledger.requests) - before)
    client.close()
    return latencies, requests


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--duration", type=float, default=1.0, help="running phase, seconds")
    args = parser.parse_args()
    config = EmulatorConfig(
        speed=1.0, queued_s=0.1, findall_duration_s=args.duration, stream_tick_s=0.005
    )
    with EmulatorServer(config=config) as server:
        print(f"{args.runs} FindAll runs of {config.queued_s + args.duration:.1f} s each")
        print(f"{'mode':<8} {'median ms':>10} {'worst ms':>9} {'requests/run':>13}")
        figures = {}
        for mode, use_stream in (("stream", True), ("poll", False)):
            latencies, requests = measure(server, use_stream=use_stream, runs=args.runs)
            figures[mode] = statistics.median(latencies)
            print(
                f"{mode:<8} {statistics.median(latencies):>10.1f} {max(latencies):>9.1f} "
                f"{statistics.mean(requests):>13.1f}"
            )
        print(
            f"stream sees completion {figures['poll'] / max(figures['stream'], 1e-9):.0f}x "
            "sooner than polling (median)"
        )


if __name__ == "__main__":
    main()
