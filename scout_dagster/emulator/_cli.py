"""``scout-emulator``: serve the Scout emulator until Ctrl-C (or SIGTERM).

    scout-emulator --port 8787 --speed 10 --fault rate_limit_rate=0.1 --fault create_cap=5

Every ``FaultConfig`` field can be set with a repeatable ``--fault name=value``;
values are validated by the model, so a typo is a clear error, not a silent no-op.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from pydantic import ValidationError

from ._config import EmulatorConfig
from ._faults import FaultConfig
from ._server import EmulatorServer

__all__ = ["main", "parse_faults"]

_NONE_WORDS = frozenset({"none", "null", ""})


def parse_faults(assignments: Sequence[str], seed: int | None) -> FaultConfig:
    """A ``FaultConfig`` from ``name=value`` strings; raises ``ValueError`` with a clear message."""
    values: dict[str, object] = {}
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--fault expects name=value, got {assignment!r}")
        name = name.strip()
        if name not in FaultConfig.model_fields:
            known = ", ".join(FaultConfig.model_fields)
            raise ValueError(f"unknown fault {name!r}; known: {known}")
        values[name] = None if value.strip().lower() in _NONE_WORDS else value.strip()
    if seed is not None:
        values["seed"] = seed
    try:
        return FaultConfig.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise ValueError(f"invalid --fault: {problems}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scout-emulator",
        description="Serve a local Scout API emulator with deterministic synthetic data.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8787, help="port (default 8787; 0 = any)")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="virtual seconds per real second (default 1)"
    )
    parser.add_argument("--api-key", help="bearer key to accept (default scout-emulator-key)")
    parser.add_argument("--seed", type=int, help="seed of the random faults (default 0)")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a FaultConfig field, e.g. rate_limit_rate=0.1 (repeatable)",
    )
    parser.add_argument("--queued", type=float, help="virtual seconds a run stays queued")
    parser.add_argument("--findall-duration", type=float, help="virtual seconds of a FindAll run")
    parser.add_argument("--search-duration", type=float, help="virtual seconds of a deep search")
    parser.add_argument(
        "--credit-balance", type=int, help="credits available; creates past them get 402"
    )
    return parser


def _config(args: argparse.Namespace) -> EmulatorConfig:
    overrides = {
        "speed": args.speed,
        "queued_s": args.queued,
        "findall_duration_s": args.findall_duration,
        "search_duration_s": args.search_duration,
        "credit_balance": args.credit_balance,
    }
    return EmulatorConfig(**{k: v for k, v in overrides.items() if v is not None})


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator in the foreground; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        faults = parse_faults(args.fault, args.seed)
        config = _config(args)
    except (ValueError, ValidationError) as error:
        parser.error(str(error))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    server = EmulatorServer(
        config=config, faults=faults, api_key=args.api_key, host=args.host, port=args.port
    )
    try:
        server.start()
    except (OSError, RuntimeError) as error:
        print(f"scout-emulator: {error}", file=sys.stderr)
        return 1
    # The emulator's own key is printed on purpose: clients need it, and it is
    # a local test key, not a Scout account secret.
    banner = (
        f"Scout emulator listening on {server.url}\n"
        f"  base URL: {server.url}  (API paths start with /v1)\n"
        f"  API key:  {server.state.api_key}\n"
        f"  speed:    {config.speed:g} virtual s per real s\n"
        "Press Ctrl-C to stop."
    )
    print(banner, flush=True)
    try:
        while not stop.wait(0.5):
            if not server.running:
                print("scout-emulator: the server stopped unexpectedly", file=sys.stderr)
                return 1
    finally:
        server.stop()
    print("Scout emulator stopped.", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
