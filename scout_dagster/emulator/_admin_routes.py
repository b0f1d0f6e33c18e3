"""The ``/_emulator`` routes: health, the ledger, the fault switch and reset.

They need no auth and are never faulted, so out-of-process users can read the
ledger and switch faults.
"""

from __future__ import annotations

import dataclasses
import os

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ._errors import ApiError
from ._faults import FaultConfig
from ._schemas import InjectBody, parse_body
from ._state import API_VERSION, EmulatorState, emulator_version

__all__ = ["AdminRoutes"]


class AdminRoutes:
    """The ``/_emulator`` handlers of one emulator."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    # -- handlers ----------------------------------------------------------------

    async def admin_health(self, request: Request) -> Response:
        return JSONResponse(
            {
                "ok": True,
                "version": emulator_version(),
                "api_version": API_VERSION,
                "pid": os.getpid(),  # so whoever started a shared emulator can stop that one
            }
        )

    async def admin_ledger(self, request: Request) -> Response:
        ledger = self.state.ledger
        runs = [dataclasses.asdict(snapshot) for snapshot in ledger.runs()]
        monitors = [dataclasses.asdict(snapshot) for snapshot in ledger.monitors()]
        return JSONResponse(
            {
                "now": self.state.clock.now(),
                "runs": runs,
                "monitors": monitors,
                "creates": {
                    "findall": ledger.creates("findall"),
                    "search": ledger.creates("search"),
                },
                "credits": ledger.total_credits(),
                "requests": len(ledger.requests),
                "cancels": ledger.cancels(),
                "faults_injected": ledger.faults_injected(),
            }
        )

    async def admin_get_faults(self, request: Request) -> Response:
        return JSONResponse(self.state.faults.config.model_dump())

    async def admin_put_faults(self, request: Request) -> Response:
        config = parse_body(FaultConfig, await request.body())
        self.state.faults.configure(config)
        return JSONResponse(config.model_dump())

    async def admin_inject(self, request: Request) -> Response:
        body = parse_body(InjectBody, await request.body())
        try:
            self.state.faults.inject(
                body.kind, body.times, body.method, body.path, body.status, body.message
            )
        except ValueError as error:
            raise ApiError(400, str(error)) from None
        return JSONResponse({"pending": self.state.faults.pending_injections})

    async def admin_reset(self, request: Request) -> Response:
        self.state.reset()
        return JSONResponse({"ok": True})

    # -- routing -----------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/_emulator/health", self.admin_health, methods=["GET"]),
            Route("/_emulator/ledger", self.admin_ledger, methods=["GET"]),
            Route("/_emulator/faults", self.admin_get_faults, methods=["GET"]),
            Route("/_emulator/faults", self.admin_put_faults, methods=["PUT"]),
            Route("/_emulator/faults/inject", self.admin_inject, methods=["POST"]),
            Route("/_emulator/reset", self.admin_reset, methods=["POST"]),
        ]
