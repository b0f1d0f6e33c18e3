"""``build_app``: the Scout API as a Starlette application.

The routes live by resource: ``_findall_routes`` (under ``/v1/findall`` and
its alias ``/v1/lists``), ``_search_routes``, ``_monitor_routes`` and
``_admin_routes`` (``/_emulator/*``: no auth, never faulted, so out-of-process
users can read the ledger and switch faults). Auth, faults, idempotency and
the request log wrap every ``/v1`` route in ``_middleware``.
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from ._admin_routes import AdminRoutes
from ._errors import ApiError
from ._faults import QuietDeliberateAborts
from ._findall_routes import FindAllRoutes
from ._middleware import ApiMiddleware
from ._monitor_routes import MonitorRoutes
from ._schemas import RequestInvalid
from ._search_routes import SearchRoutes
from ._state import EmulatorState

__all__ = ["ApiError", "build_app"]


def _install_quiet_aborts() -> None:
    """Silence uvicorn's traceback for connections the emulator cuts on purpose."""
    uvicorn_errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, QuietDeliberateAborts) for f in uvicorn_errors.filters):
        uvicorn_errors.addFilter(QuietDeliberateAborts())


def _routes(state: EmulatorState) -> list[BaseRoute]:
    """Every route of one emulator, resource by resource."""
    return [
        *FindAllRoutes(state).routes(),
        *SearchRoutes(state).routes(),
        *MonitorRoutes(state).routes(),
        *AdminRoutes(state).routes(),
    ]


async def _on_api_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    return JSONResponse({"detail": error.detail}, error.status, error.headers)


async def _on_invalid(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestInvalid)
    return JSONResponse({"detail": error.errors}, 422)


async def _on_http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return JSONResponse({"detail": error.detail}, error.status_code, error.headers)


def build_app(state: EmulatorState | None = None) -> Starlette:
    """The emulator as an ASGI app; ``state`` defaults to a fresh ``EmulatorState``.

    ``app.state.emulator`` holds the state (ledger, faults, clock) for callers
    that serve the app themselves.
    """
    state = state or EmulatorState.create()
    _install_quiet_aborts()
    app = Starlette(
        routes=_routes(state),
        middleware=[Middleware(ApiMiddleware, state=state)],
        exception_handlers={
            ApiError: _on_api_error,
            RequestInvalid: _on_invalid,
            HTTPException: _on_http_error,
        },
    )
    app.state.emulator = state
    return app
