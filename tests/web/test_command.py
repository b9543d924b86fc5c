"""``xrayreport users`` and ``xrayreport serve`` on the command line."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest
from fastapi.testclient import TestClient

from xrayreport.cli import main
from xrayreport.web.app import create_app
from xrayreport.web.config import WebConfig

from .conftest import scan_png
from .doubles import analyse_for_tests, render_report_for_tests


def _users(monkeypatch: pytest.MonkeyPatch, home: Path, *args: str, stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(["users", *args, "--home", str(home)])


def test_users_add_then_log_in_with_that_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _users(monkeypatch, tmp_path, "add", "dr-wu", "--password-stdin", stdin="a long passphrase\n") == 0
    assert _users(monkeypatch, tmp_path, "list") == 0
    assert "dr-wu\tadmin,dentist\tcreated " in capsys.readouterr().out  # the first account runs the workspace
    config = WebConfig(home=tmp_path, analyser=analyse_for_tests, renderer=render_report_for_tests)
    with TestClient(create_app(config)) as client:
        response = client.post("/api/token", data={"username": "dr-wu", "password": "a long passphrase"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [
        (
            "dr wu",
            "a long passphrase",
            "invalid user name 'dr wu': use 1-64 letters, digits, dots, dashes or underscores",
        ),
        ("dr-wu", "short", "the password is too short: use at least 8 characters"),
        ("dr-li", "a long passphrase", "user 'dr-li' exists already; pick another name"),
    ],
)
def test_users_add_refuses_bad_input_in_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    password: str,
    message: str,
) -> None:
    assert _users(monkeypatch, tmp_path, "add", "dr-li", "--password-stdin", stdin="first passphrase\n") == 0
    capsys.readouterr()
    assert (
        _users(monkeypatch, tmp_path, "add", name, "--role", "dentist", "--password-stdin", stdin=password + "\n") == 1
    )
    assert capsys.readouterr().err == f"xrayreport: error: {message}\n"


def test_users_roles_and_revoke_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _users(monkeypatch, tmp_path, "add", "dr-wu", "--password-stdin", stdin="a long passphrase\n") == 0
    assert _users(monkeypatch, tmp_path, "add", "asa", "--password-stdin", stdin="a long passphrase\n") == 1
    assert "say what asa may do: --role admin | dentist | assistant | researcher" in capsys.readouterr().err
    args = ("add", "asa", "--role", "assistant", "--role", "researcher", "--password-stdin")
    assert _users(monkeypatch, tmp_path, *args, stdin="a long passphrase\n") == 0
    assert _users(monkeypatch, tmp_path, "roles", "asa", "assistant") == 0
    assert _users(monkeypatch, tmp_path, "roles", "dr-wu", "dentist") == 1  # the only admin
    assert _users(monkeypatch, tmp_path, "roles", "nobody", "dentist") == 1
    assert _users(monkeypatch, tmp_path, "list") == 0
    out, err = capsys.readouterr()
    assert "asa\tassistant\t" in out and "dr-wu\tadmin,dentist\t" in out
    assert "dr-wu is the only admin" in err and "no user 'nobody'" in err
    config = WebConfig(home=tmp_path, analyser=analyse_for_tests, renderer=render_report_for_tests)
    with TestClient(create_app(config)) as client:
        token = client.post("/api/token", data={"username": "asa", "password": "a long passphrase"}).json()
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        assert client.get("/api/patients", headers=auth).status_code == 200
        assert _users(monkeypatch, tmp_path, "revoke", "asa") == 0
        assert client.get("/api/patients", headers=auth).status_code == 401
    assert "ended 1 session(s) and API token(s) of asa" in capsys.readouterr().out


def test_home_defaults_to_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from xrayreport.web.config import default_home

    monkeypatch.setenv("XRAYREPORT_HOME", str(tmp_path / "clinic"))
    assert default_home() == tmp_path / "clinic"
    monkeypatch.delenv("XRAYREPORT_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_home() == tmp_path / "data" / "xrayreport"


def _start_server(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "XRAYREPORT_HOME": str(home), "XRAYREPORT_MODEL": str(home / "no-model.onnx")}
    log = (home / "serve.log").open("ab")
    server = subprocess.Popen(
        [sys.executable, "-m", "xrayreport", "serve", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    log.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx2.get(f"http://127.0.0.1:{port}/login").status_code == 200:
                return server
        except httpx2.TransportError:
            time.sleep(0.2)
    server.kill()
    raise AssertionError(f"xrayreport serve did not start: {(home / 'serve.log').read_text()[-2000:]}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.slow
def test_serve_killed_during_an_upload_loses_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _users(monkeypatch, tmp_path, "add", "dr-lee", "--password-stdin", stdin="correct horse battery\n") == 0
    port = _free_port()
    server = _start_server(tmp_path, port)
    try:
        url = f"http://127.0.0.1:{port}"
        auth = {"Authorization": "Bearer " + httpx2.post(f"{url}/api/token", data=_LOGIN).json()["access_token"]}
        first = httpx2.post(f"{url}/api/studies", headers=auth, files={"file": ("a.png", scan_png(70))})
        assert first.status_code == 201
        body = scan_png(71, width=1600, height=800)
        with socket.create_connection(("127.0.0.1", port)) as raw:  # half an upload, then the server dies
            boundary = "cut"
            head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="b.png"\r\n\r\n'.encode()
            raw.sendall(
                f"POST /api/studies HTTP/1.1\r\nHost: 127.0.0.1\r\n{'Authorization: ' + auth['Authorization']}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                f"Content-Length: {len(head) + len(body) + 100}\r\n\r\n".encode()
                + head
                + body[: len(body) // 2]
            )
            time.sleep(0.5)
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=10)
    finally:
        server.kill()
        server.wait(timeout=10)
    stored = [p.name for p in (tmp_path / "scans").iterdir()]
    assert not [name for name in stored if name.endswith(".tmp")]
    assert len([name for name in stored if name.endswith(".scan")]) == 1  # nothing of the cut upload
    server = _start_server(tmp_path, port)
    try:
        studies = httpx2.get(f"{url}/api/studies", headers=auth).json()
        assert [s["id"] for s in studies] == [first.json()["id"]]
        assert studies[0]["status"] == "unavailable"  # no model here: said so, not invented
    finally:
        server.terminate()
        assert server.wait(timeout=20) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after shutting down


_LOGIN = {"username": "dr-lee", "password": "correct horse battery"}


# The web extra's modules, made unimportable as on an install without `pip install 'xrayreport[web]'`.
_WITHOUT_WEB_EXTRA = """
import sys
for name in ("fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "argon2", "itsdangerous",
             "multipart", "python_multipart"):
    sys.modules[name] = None  # import raises ModuleNotFoundError, as if not installed
from xrayreport.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    "command", [["serve"], ["users", "list"], ["users", "add", "dr-wu", "--password-stdin"]], ids=" ".join
)
def test_serve_and_users_without_the_web_extra_say_what_to_install(tmp_path: Path, command: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_WEB_EXTRA, *command, "--home", str(tmp_path)],
        input="a long passphrase\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("xrayreport: error: ")
    assert "pip install 'xrayreport[web]'" in result.stderr
    assert not (tmp_path / "xrayreport.sqlite3").exists()


def test_users_add_without_a_terminal_says_how_to_give_the_password(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "xrayreport", "users", "add", "dr-wu", "--home", str(tmp_path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,  # no controlling terminal either: getpass cannot fall back to /dev/tty
    )
    assert result.returncode == 1
    assert result.stderr == (
        "xrayreport: error: no terminal to ask for the password of dr-wu: run the command in a terminal, "
        "or pipe the password in with --password-stdin\n"
    )
    assert not (tmp_path / "xrayreport.sqlite3").exists()


def test_users_add_asks_twice_on_the_terminal_without_echo(tmp_path: Path) -> None:
    import pty
    import select

    pid, terminal = pty.fork()
    if pid == 0:  # the child: the pseudo-terminal is its controlling terminal, as in an interactive shell
        os.execv(sys.executable, [sys.executable, "-m", "xrayreport", "users", "add", "dr-wu", "--home", str(tmp_path)])
    seen = b""

    def read_until(text: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + 60
        while text not in seen and time.monotonic() < deadline:
            if select.select([terminal], [], [], 1)[0]:
                try:
                    seen += os.read(terminal, 1024)
                except OSError:  # the child closed the terminal
                    break
        assert text in seen, seen.decode(errors="replace")

    read_until(b"password for dr-wu: ")
    os.write(terminal, b"a long passphrase\n")
    read_until(b"again: ")
    os.write(terminal, b"a long passphrase\n")
    read_until(b"user dr-wu added")
    _, status = os.waitpid(pid, 0)
    os.close(terminal)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"a long passphrase" not in seen  # not echoed


def test_seed_demo_fills_an_empty_workspace_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["seed-demo", "--patients", "40", "--home", str(tmp_path)]) == 0
    assert "added 40 invented patients" in capsys.readouterr().out
    assert main(["seed-demo", "--patients", "5", "--home", str(tmp_path)]) == 1
    assert "already holds patients" in capsys.readouterr().err
    assert _users(monkeypatch, tmp_path, "add", "asa", "--password-stdin", stdin="a long passphrase\n") == 0
    config = WebConfig(home=tmp_path, analyser=None, renderer=None)
    with TestClient(create_app(config)) as client:
        token = client.post("/api/token", data={"username": "asa", "password": "a long passphrase"}).json()
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        found = client.get("/api/recalls", headers=auth).json()
        patients = client.get("/api/patients", headers=auth).json()
    assert len(patients) == 40 and all(p["patient_id"].startswith("DEMO-") for p in patients)
    assert found["entries"] and found["without_consent"]  # a realistic mix: some to call, some without consent
    assert all(e["reason"] for e in found["entries"])


def test_dataset_export_writes_a_folder_or_a_zip_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    assert main(["dataset", "export", "-o", str(tmp_path / "export"), "--home", str(home)]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {tmp_path / 'export'}")
    assert main(["dataset", "export", "-o", str(tmp_path / "export.zip"), "--home", str(home)]) == 0
    assert (tmp_path / "export.zip").stat().st_size > 0
    capsys.readouterr()
    # A second export to the same ZIP is refused in one line: an earlier export is never overwritten.
    assert main(["dataset", "export", "-o", str(tmp_path / "export.zip"), "--home", str(home)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "export.zip" in err and "Traceback" not in err
