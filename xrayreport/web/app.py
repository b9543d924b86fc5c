"""The FastAPI application: wiring, middleware (upload size limit, PHI-free access log), error answers."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import select
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..dicomnet.node import NodeConfig
from ..errors import ImageTooLargeError, UnsupportedFormatError, XrayReportError
from ..report.fonts import MissingFontError
from . import api, burnedin, learning, pages
from .analysis import AnalysisRunner
from .auth import LoginSessions
from .config import WebConfig
from .database import make_engine, make_sessions, upgrade
from .models import Study
from .modelstore import ModelConflictError, ModelStore
from .plans import FindingsPendingError
from .reports import clinic_sleep_rules, default_planner
from .scans import ScanStore
from .standings import forget_all_standings
from .studies import NotFoundError
from .throttle import LoginThrottle
from .worker import require_postgresql
from .workspace import LoginRequiredError, Workspace

if TYPE_CHECKING:
    from ..dicomnet.scp import StorageSCP

log = logging.getLogger(__name__)
access_log = logging.getLogger("xrayreport.web.access")
SESSION_COOKIE = "xrayreport_session"
FORM_OVERHEAD_BYTES = 1024 * 1024
"""Room for the multipart framing and the patient fields around an uploaded file."""
OTHER_BODY_BYTES = 4 * 1024 * 1024
"""The largest body of any request but an upload: a findings document at its bounds (1,000 findings with
notes) is about 2 MiB, and every body is parsed whole before it is checked."""


def create_app(config: WebConfig) -> FastAPI:
    """Build the web app; the database is migrated and unfinished analyses resumed when it starts."""
    config.ensure_home()
    if config.queue_only:
        require_postgresql(config.db_url, "a server that only queues analyses")
    engine = make_engine(config.db_url)
    sessions = make_sessions(engine)
    scans = ScanStore(config.scans_dir)
    runner = AnalysisRunner(config.analyser, sessions, scans, config.analysis_workers, config.queue_only)
    workspace = Workspace(
        config=config,
        engine=engine,
        sessions=sessions,
        scans=scans,
        runner=runner,
        login_sessions=LoginSessions(config.clock, {"page": config.session_max_age_s, "api": config.token_max_age_s}),
        logins=LoginThrottle(config.secret_key(), config.login_limits, config.clock),
        planner=config.planner or default_planner(config.home / "clinic.yaml"),
        sleep_rules=config.sleep_rules or clinic_sleep_rules(config.home / "clinic.yaml"),
        models=ModelStore(config.home, sessions, scans, config.secret_key().encode(), runner),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        upgrade(engine)
        with sessions() as db:
            known = set(db.scalars(select(Study.scan_file)))
        if removed := scans.open(known):
            log.info("removed %d scan files left without a study by an interrupted upload", removed)
        workspace.models.open()  # before the runner resumes analyses: they use the active model
        workspace.runner.recover()
        with sessions.begin() as db:
            forget_all_standings(db)  # the clinic file's waiting times may have changed since the last start
        dicom = workspace.dicom_node = _start_dicom_node(workspace, config.dicom) if config.dicom else None
        yield
        if dicom is not None:
            workspace.dicom_node = None
            dicom.stop()  # before the runner: an object it is storing still gets queued
        workspace.models.shutdown()
        workspace.runner.shutdown()
        scans.close()
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
    app.include_router(learning.api)
    app.include_router(learning.pages)
    app.include_router(burnedin.api)
    app.include_router(burnedin.pages)
    app.mount("/static", StaticFiles(directory=str(resources.files(__package__).joinpath("static"))), name="static")
    app.add_middleware(
        SessionMiddleware,
        secret_key=config.secret_key(),
        session_cookie=SESSION_COOKIE,
        max_age=config.session_max_age_s,
        same_site="lax",
        https_only=config.secure_cookies,
    )
    app.add_middleware(
        BodySizeLimit, upload_limit=config.max_upload_bytes + FORM_OVERHEAD_BYTES, other_limit=OTHER_BODY_BYTES
    )
    app.add_middleware(SecurityHeaders, https_only=config.secure_cookies)
    app.add_middleware(AccessLog)
    _add_error_handlers(app)
    return app


def _start_dicom_node(workspace: Workspace, node: NodeConfig) -> StorageSCP:
    """The DICOM node ``node``, started, storing into the workspace as its uploads do."""
    from ..dicomnet.scp import StorageSCP
    from .dicompull import workspace_receiver

    scp = StorageSCP(node, workspace_receiver(workspace))
    scp.start()
    return scp


def _status_for(exc: XrayReportError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, FindingsPendingError | ModelConflictError):
        return 409
    if isinstance(exc, ImageTooLargeError):
        return 413
    if isinstance(exc, UnsupportedFormatError):
        return 415
    if isinstance(exc, MissingFontError):
        return 503  # the server lacks a font package; nothing the user sent is wrong
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


PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
"""Content-Security-Policy of every answer: scripts, styles and images from this server only, no inline
script or style, never framed (the review page's "accept all" must not be clickable through a frame)."""
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
"""The API documentation pages (no patient data) load FastAPI's Swagger UI and ReDoc with inline set-up."""
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")


class SecurityHeaders:
    """Headers on every answer: the Content-Security-Policy above, no framing, no MIME sniffing, no referrer
    (paths hold study ids, queries patient searches), nothing stored by caches unless a route says otherwise,
    and the session cookie marked ``Secure`` when the request came over HTTPS (or always, with ``https_only``),
    so a server behind a TLS proxy protects the cookie without a flag."""

    def __init__(self, app: ASGIApp, https_only: bool) -> None:
        self.app = app
        self.https_only = https_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = DOCS_POLICY if scope["path"] in DOCS_PATHS else PAGE_POLICY
        over_https = self.https_only or scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = policy
                headers["X-Frame-Options"] = "DENY"
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                headers["Cross-Origin-Opener-Policy"] = "same-origin"
                headers.setdefault("Cache-Control", "no-store")
                if over_https:
                    headers["Strict-Transport-Security"] = "max-age=31536000"
                    _mark_session_cookie_secure(headers)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _mark_session_cookie_secure(headers: MutableHeaders) -> None:
    cookies = headers.getlist("set-cookie")
    if not any(cookie.startswith(f"{SESSION_COOKIE}=") for cookie in cookies):
        return
    del headers["set-cookie"]
    for cookie in cookies:
        secure = cookie.startswith(f"{SESSION_COOKIE}=") and "; secure" not in cookie.lower()
        headers.append("set-cookie", f"{cookie}; Secure" if secure else cookie)


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
