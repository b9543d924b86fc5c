"""The FastAPI application: wiring, middleware (upload size limit, PHI-free access log), error answers."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import select
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..errors import ImageTooLargeError, UnsupportedFormatError, XrayReportError
from . import api, pages
from .analysis import AnalysisRunner
from .auth import LoginSessions
from .config import WebConfig
from .database import make_engine, make_sessions, upgrade
from .models import Study
from .scans import ScanStore
from .studies import NotFoundError
from .throttle import LoginThrottle
from .workspace import LoginRequiredError, Workspace

log = logging.getLogger(__name__)
access_log = logging.getLogger("xrayreport.web.access")
FORM_OVERHEAD_BYTES = 1024 * 1024
"""Room for the multipart framing and the patient fields around an uploaded file."""
OTHER_BODY_BYTES = 4 * 1024 * 1024
"""The largest body of any request but an upload: a findings document at its bounds (1,000 findings with
notes) is about 2 MiB, and every body is parsed whole before it is checked."""


def create_app(config: WebConfig) -> FastAPI:
    """Build the web app; the database is migrated and unfinished analyses resumed when it starts."""
    config.ensure_home()
    engine = make_engine(config.db_url)
    sessions = make_sessions(engine)
    scans = ScanStore(config.scans_dir)
    workspace = Workspace(
        config=config,
        engine=engine,
        sessions=sessions,
        scans=scans,
        runner=AnalysisRunner(config.analyser, sessions, scans, config.analysis_workers),
        login_sessions=LoginSessions(config.clock, {"page": config.session_max_age_s, "api": config.token_max_age_s}),
        logins=LoginThrottle(config.secret_key(), config.login_limits, config.clock),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        upgrade(engine)
        with sessions() as db:
            known = set(db.scalars(select(Study.scan_file)))
        if removed := scans.remove_orphans(known):
            log.info("removed %d scan files left without a study by an interrupted upload", removed)
        workspace.runner.recover()
        yield
        workspace.runner.shutdown()
        engine.dispose()

    app = FastAPI(
        title="xrayreport workspace",
        version=__version__,
        description="Upload dental panoramic scans, review and correct the findings, issue patient reports. "
        "Every call except POST /api/token needs `Authorization: Bearer <token>`.",
        lifespan=lifespan,
    )
    app.state.workspace = workspace
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=str(resources.files(__package__).joinpath("static"))), name="static")
    app.add_middleware(
        SessionMiddleware,
        secret_key=config.secret_key(),
        session_cookie="xrayreport_session",
        max_age=config.session_max_age_s,
        same_site="lax",
        https_only=config.secure_cookies,
    )
    app.add_middleware(
        BodySizeLimit, upload_limit=config.max_upload_bytes + FORM_OVERHEAD_BYTES, other_limit=OTHER_BODY_BYTES
    )
    app.add_middleware(AccessLog)
    _add_error_handlers(app)
    return app


def _status_for(exc: XrayReportError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ImageTooLargeError):
        return 413
    if isinstance(exc, UnsupportedFormatError):
        return 415
    return 422


def _wants_html(request: Request) -> bool:
    # The API, and the pages' own scripts (which ask for JSON), get JSON errors; browsers get a page.
    return not request.url.path.startswith("/api/") and "application/json" not in request.headers.get("accept", "")


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(XrayReportError)
    async def project_error(request: Request, exc: XrayReportError) -> Response:
        return _error(request, _status_for(exc), str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _error(request, exc.status_code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(LoginRequiredError)
    async def login_required(request: Request, _exc: LoginRequiredError) -> Response:
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


def _error(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    if not _wants_html(request):
        return JSONResponse({"detail": message}, status_code=status, headers=headers)
    return pages.error_page(request, status, message)


class BodySizeLimit:
    """Refuse request bodies over their limit with 413, before reading them when Content-Length says so,
    and while streaming otherwise, so an oversized body never fills the disk or memory. Uploads (multipart
    forms) may reach ``upload_limit`` bytes, any other body ``other_limit``."""

    def __init__(self, app: ASGIApp, upload_limit: int, other_limit: int) -> None:
        self.app = app
        self.upload_limit = upload_limit
        self.other_limit = other_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if headers.get(b"content-type", b"").lower().startswith(b"multipart/form-data"):
            limit = self.upload_limit
            message = (
                f"the upload is larger than the {limit // 2**20} MiB limit; upload one scan at a time, "
                "exported as a single 2D panoramic"
            )
        else:
            limit = self.other_limit
            message = f"the request body is larger than the {limit // 2**20} MiB limit for anything but an upload"
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = JSONResponse({"detail": message}, status_code=413, headers={"Connection": "close"})
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message_in = await receive()
            if message_in["type"] == "http.request":
                received += len(message_in.get("body", b""))
                if received > limit:
                    raise HTTPException(status_code=413, detail=message)
            return message_in

        await self.app(scope, limited_receive, send)


class AccessLog:
    """One log line per request: method, path, status, milliseconds. Never the query string (patient
    searches) nor bodies; paths hold only random study ids and database numbers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_logged)
        finally:
            access_log.info(
                "%s %s %s %.0f ms",
                scope["method"],
                scope["path"],
                status["code"],
                (time.perf_counter() - started) * 1e3,
            )
