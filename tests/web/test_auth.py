"""Login sessions: page sessions and API tokens end at logout or revocation, and at a fixed time after login."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select

from xrayreport.web.models import LoginSession, User

from .conftest import BOTH_DATABASES, USER, bearer
from .test_pages import _csrf, login
from .test_throttle import Clock


def _opens_home(client: TestClient) -> bool:
    response = client.get("/", follow_redirects=False)
    assert response.status_code in (200, 303)
    return response.status_code == 200


@BOTH_DATABASES
def test_a_session_cookie_copied_before_logout_opens_nothing_after_it(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    csrf = login(client)
    copied = client.cookies.get("xrayreport_session")
    assert copied
    assert client.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    thief = make_client()
    thief.cookies.set("xrayreport_session", copied)
    assert not _opens_home(thief)


def test_a_page_session_ends_12_hours_after_login_however_much_it_is_used(
    make_client: Callable[..., TestClient],
) -> None:
    clock = Clock()
    client = make_client(clock=clock)
    login(client)
    for hours in (1, 6, 11.99):  # in use all day: the cookie is sent back renewed every time
        clock.at(60 * hours)
        assert _opens_home(client)
    clock.at(12 * 60)
    assert not _opens_home(client)
    assert 'name="password"' in client.get("/").text


@BOTH_DATABASES
def test_a_revoked_api_token_stops_working_and_others_do_not(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    kept, revoked = bearer(client), bearer(client)
    assert client.delete("/api/token", headers=revoked).status_code == 204
    assert client.get("/api/studies", headers=revoked).status_code == 401
    assert client.delete("/api/token", headers=revoked).status_code == 401
    assert client.get("/api/studies", headers=kept).status_code == 200


def test_api_tokens_end_at_their_expiry(make_client: Callable[..., TestClient]) -> None:
    clock = Clock()
    client = make_client(clock=clock, token_max_age_s=3600)
    response = client.post("/api/token", data={"username": USER, "password": "correct horse battery"})
    assert response.json()["expires_in"] == 3600
    auth = {"Authorization": f"Bearer {response.json()['access_token']}"}
    clock.at(59)
    assert client.get("/api/studies", headers=auth).status_code == 200
    clock.at(60)
    assert client.get("/api/studies", headers=auth).status_code == 401


def test_page_sessions_and_api_tokens_do_not_stand_in_for_each_other(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    sessions = client.app.state.workspace.login_sessions  # type: ignore[attr-defined]
    with client.app.state.workspace.sessions.begin() as db:  # type: ignore[attr-defined]
        user = db.scalar(select(User).where(User.username == USER))
        page_secret = sessions.start(db, user, "page")
        api_secret = sessions.start(db, user, "api")
    with client.app.state.workspace.sessions() as db:  # type: ignore[attr-defined]
        assert sessions.user(db, page_secret, "page").username == USER
        assert sessions.user(db, page_secret, "api") is None
        assert sessions.user(db, api_secret, "page") is None
        assert sessions.user(db, None, "page") is None
        stored = db.scalars(select(LoginSession.secret_hash)).all()
    assert page_secret not in stored and api_secret not in stored  # hashes only
    assert client.get("/api/studies", headers={"Authorization": f"Bearer {page_secret}"}).status_code == 401


def test_logging_in_again_starts_a_new_session_with_a_new_csrf_token(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    first = login(client)
    before = client.cookies.get("xrayreport_session")
    token = _csrf(client.get("/login").text)
    client.post("/login", data={"username": USER, "password": "correct horse battery", "csrf": token, "next": "/"})
    assert client.cookies.get("xrayreport_session") != before
    assert _csrf(client.get("/").text) != first
