"""The running workspace (database, scan store, analysis runner, signer) and the request dependencies
that hand it, the database session and the calling user to the API and page handlers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from ..recall import SleepRules
from .analysis import AnalysisRunner
from .auth import LoginSessions
from .config import WebConfig
from .models import User
from .modelstore import ModelStore
from .reports import Planner
from .roles import Permission
from .scans import ScanStore
from .throttle import LoginThrottle

if TYPE_CHECKING:
    from ..dicomnet.scp import StorageSCP


@dataclass
class Workspace:
    config: WebConfig
    engine: Engine
    sessions: sessionmaker[Session]
    scans: ScanStore
    runner: AnalysisRunner
    login_sessions: LoginSessions
    planner: Planner
    sleep_rules: SleepRules
    logins: LoginThrottle
    models: ModelStore
    dicom_node: StorageSCP | None = None
    """The DICOM node running in the server (``serve --dicom-port``) while it runs: pulls move studies to it."""


def get_workspace(request: Request) -> Workspace:
    workspace: Workspace = request.app.state.workspace
    return workspace


WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]

_bearer = OAuth2PasswordBearer(tokenUrl="/api/token", auto_error=False)


BearerToken = Annotated[str | None, Depends(_bearer)]


def api_user(workspace: WorkspaceDep, token: BearerToken) -> User:
    """The user of a valid, unrevoked ``Authorization: Bearer`` token; 401 otherwise."""
    with workspace.sessions() as db:
        user = workspace.login_sessions.user(db, token, "api")
    if user is None:
        raise HTTPException(
            status_code=401,
            detail="not authenticated: POST username and password to /api/token and send "
            "'Authorization: Bearer <access_token>' (tokens expire or are revoked; get a new one when this recurs)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


ApiUser = Annotated[User, Depends(api_user)]


class LoginRequiredError(Exception):
    """Raised for a page request without a logged-in session; answered with a redirect to /login."""


def page_user(request: Request, workspace: WorkspaceDep) -> User:
    """The user logged in with this browser session, unless it ended; redirects to the login page otherwise."""
    with workspace.sessions() as db:
        user = workspace.login_sessions.user(db, request.session.get("sid"), "page")
    if user is None:
        raise LoginRequiredError()
    return user


PageUser = Annotated[User, Depends(page_user)]


def api_permission(permission: Permission) -> Any:
    """A dependency: the API caller (see :func:`api_user`) when their roles allow ``permission``; 403 otherwise."""

    def allowed(user: ApiUser) -> User:
        if not user.may(permission):
            raise HTTPException(403, _refusal(user, permission))
        return user

    return Depends(allowed)


def page_permission(permission: Permission) -> Any:
    """A dependency: the logged-in page user (see :func:`page_user`) when their roles allow ``permission``;
    a 403 page otherwise."""

    def allowed(user: PageUser) -> User:
        if not user.may(permission):
            raise HTTPException(403, _refusal(user, permission))
        return user

    return Depends(allowed)


def _refusal(user: User, permission: Permission) -> str:
    roles = ", ".join(user.roles) or "none"
    return f"your roles ({roles}) do not allow you to {permission}; an admin can change your roles"
