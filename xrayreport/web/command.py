"""``xrayreport serve`` (the web workspace) and ``xrayreport users`` (its accounts)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import XrayReportError
from ..exit_codes import EXIT_OK

# The [web] extra's distributions and the module each installs.
_WEB_EXTRA_MODULES = {
    "fastapi": "fastapi",
    "uvicorn": "uvicorn",
    "python-multipart": "python_multipart",
    "SQLAlchemy": "sqlalchemy",
    "alembic": "alembic",
    "argon2-cffi": "argon2",
    "itsdangerous": "itsdangerous",
}


ROLES_HELP = (
    "admin (accounts), dentist (review, reports), assistant (patients, uploads, printing), "
    "researcher (de-identified exports)"
)


def require_web_extra() -> None:
    """Fail in one line, naming the install command, when the [web] extra is not installed."""
    import importlib

    for distribution, module in _WEB_EXTRA_MODULES.items():
        try:
            importlib.import_module(module)
        except ImportError:
            raise XrayReportError(
                f"the web workspace needs the [web] extra ({distribution} is missing): pip install 'xrayreport[web]'"
            ) from None


def _config(args: argparse.Namespace, with_stages: bool = True) -> Any:
    """The WebConfig of the command line; ``with_stages=False`` skips loading the model and the report stage."""
    require_web_extra()
    from .analysis import default_analyser
    from .config import WebConfig, default_home
    from .reports import default_renderer

    home = args.home or default_home()
    return WebConfig(
        home=home,
        analyser=default_analyser() if with_stages else None,
        renderer=default_renderer(home / "clinic.yaml") if with_stages else None,
        database_url=args.database_url,
        max_upload_bytes=int(getattr(args, "max_upload_mib", 64) * 2**20),
        secure_cookies=getattr(args, "secure_cookies", False),
        queue_only=getattr(args, "queue_only", False),
    )


def _serve(args: argparse.Namespace) -> int:
    require_web_extra()
    import dataclasses
    import logging

    import uvicorn

    from ..dicomnet.command import node_config, require_dicom_extra
    from .app import create_app

    dicom = None
    if args.dicom_port is not None:
        require_dicom_extra()
        dicom = node_config(args, "dicom-", host=args.host)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("weasyprint").setLevel(logging.WARNING)  # one progress line per rendering step otherwise
    config = dataclasses.replace(_config(args), dicom=dicom)
    app = create_app(config)  # refuses a setting that cannot work (--queue-only on SQLite) before saying where
    print(f"xrayreport workspace: http://{args.host}:{args.port}/ (data in {config.home})", file=sys.stderr)
    uvicorn.Server(uvicorn_config(app, args.host, args.port, args.trusted_proxy)).run()
    return EXIT_OK


def _worker(args: argparse.Namespace) -> int:
    require_web_extra()
    import logging

    from .analysis import default_analyser
    from .database import make_engine, make_sessions, upgrade
    from .scans import ScanStore
    from .worker import ActiveModelAnalyser, QueueNotifications, Worker, require_postgresql, run_until_signalled

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = _config(args, with_stages=False)
    require_postgresql(config.db_url, "xrayreport worker")
    engine = make_engine(config.db_url)
    default = default_analyser(args.threads)
    if default is None:
        raise XrayReportError(
            "no detection model loads on this machine (the line above says why); a worker without one cannot analyse"
        )
    config.ensure_home()
    upgrade(engine)  # as every command on the workspace's database does; a no-op once the front has
    worker = Worker(
        make_sessions(engine),
        ScanStore(config.scans_dir),
        ActiveModelAnalyser(config.home, default, args.threads),
        lease_s=args.lease_seconds,
        poll_s=args.poll_seconds,
        notifications=QueueNotifications(engine),
    )
    try:
        run_until_signalled(worker)
    finally:
        engine.dispose()
    return EXIT_OK


def uvicorn_config(app: Any, host: str, port: int, trusted_proxies: list[str] | None = None, **options: Any) -> Any:
    """uvicorn's configuration for the workspace (``options``: more of uvicorn.Config's).

    ``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed only from ``trusted_proxies`` (none unless
    given): uvicorn would otherwise believe them from 127.0.0.1, so any client on the server's own machine
    could claim a new address with every login and escape the per-address login limit. uvicorn's access
    log is off: it prints query strings, where patient searches live; the app logs requests itself.
    """
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        proxy_headers=bool(trusted_proxies),
        forwarded_allow_ips=",".join(trusted_proxies or []),
        **options,
    )


def _check_terminal(name: str) -> None:
    if not sys.stdin.isatty():
        raise XrayReportError(
            f"no terminal to ask for the password of {name}: run the command in a terminal, "
            "or pipe the password in with --password-stdin"
        )


def _ask_password(name: str) -> str:
    """The password typed twice on the terminal, not echoed."""
    import getpass

    _check_terminal(name)
    try:
        password = getpass.getpass(f"password for {name}: ")
        again = getpass.getpass("again: ")
    except EOFError:
        raise XrayReportError("no password given; run the command again") from None
    if again != password:
        raise XrayReportError("the two passwords differ; run the command again")
    return password


def _database(args: argparse.Namespace) -> Any:
    """A session factory on the workspace's database, migrated (the users commands run without a server)."""
    from .database import make_engine, make_sessions, upgrade

    config = _config(args, with_stages=False)
    config.ensure_home()
    engine = make_engine(config.db_url)
    upgrade(engine)
    return make_sessions(engine)


def _users_add(args: argparse.Namespace) -> int:
    require_web_extra()
    from sqlalchemy import func, select

    from .auth import add_user
    from .models import User
    from .roles import Role

    if not args.password_stdin:
        _check_terminal(args.name)  # before anything is created
    sessions = _database(args)
    with sessions() as db:
        first = db.scalar(select(func.count()).select_from(User)) == 0
    if not args.role and not first:
        raise XrayReportError(
            f"say what {args.name} may do: --role {' | '.join(r.value for r in Role)} (repeat it for several roles)"
        )
    roles = args.role or [Role.ADMIN, Role.DENTIST]  # the first account runs the clinic's workspace
    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else _ask_password(args.name)
    with sessions.begin() as db:
        user = add_user(db, args.name, password, roles)
        print(f"user {args.name} added with the roles {', '.join(user.roles)}")
    return EXIT_OK


def _users_roles(args: argparse.Namespace) -> int:
    require_web_extra()
    from .auth import get_user, set_roles

    with _database(args).begin() as db:
        user = get_user(db, args.name)
        set_roles(db, user, args.roles)
        print(f"{args.name} now has the roles {', '.join(user.roles)}")
    return EXIT_OK


def _users_revoke(args: argparse.Namespace) -> int:
    require_web_extra()
    from .auth import end_all_sessions, get_user

    with _database(args).begin() as db:
        ended = end_all_sessions(db, get_user(db, args.name))
    print(f"ended {ended} session(s) and API token(s) of {args.name}")
    return EXIT_OK


def _users_list(args: argparse.Namespace) -> int:
    require_web_extra()
    from sqlalchemy import select

    from .models import User

    with _database(args)() as db:
        for user in db.scalars(select(User).order_by(User.username)):
            print(f"{user.username}\t{','.join(user.roles)}\tcreated {user.created_at:%Y-%m-%d}")
    return EXIT_OK


def _seed_demo(args: argparse.Namespace) -> int:
    require_web_extra()
    import datetime as dt

    from sqlalchemy import func, select

    from .demo import seed_demo
    from .models import Patient
    from .scans import ScanStore

    config = _config(args, with_stages=False)
    sessions = _database(args)
    with sessions.begin() as db:
        if db.scalar(select(func.count()).select_from(Patient)):
            raise XrayReportError(
                f"{config.home} already holds patients; the demo fills an empty workspace: give --home a new folder"
            )
        added = seed_demo(db, ScanStore(config.scans_dir), args.patients, dt.date.today())
    print(f"added {added} invented patients to {config.home}; start it with: xrayreport serve --home {config.home}")
    return EXIT_OK


def _dataset_export(args: argparse.Namespace) -> int:
    require_web_extra()
    from ..export import folder_writer, write_training_export, write_training_zip
    from .clinicdata import training_studies
    from .scans import ScanStore

    config = _config(args, with_stages=False)
    sessions = _database(args)
    with sessions() as db:
        studies = training_studies(db, ScanStore(config.scans_dir), config.secret_key().encode(), leaves_server=True)
    if args.out.suffix == ".zip":
        try:
            handle = args.out.open("xb")
        except FileExistsError:
            raise XrayReportError(
                f"{args.out} exists already; give a new file name (an export never overwrites)"
            ) from None
        except OSError as exc:
            raise XrayReportError(f"{args.out}: cannot create it ({exc.strerror}); check the folder") from None
        with handle:
            counts = write_training_zip(studies, handle)
    else:
        counts = write_training_export(studies, folder_writer(args.out))
    print(f"wrote {args.out}: " + ", ".join(f"{n} studies in {split}" for split, n in counts.items()))
    withheld = sum(study.pixels_withheld is not None for study in studies)
    if withheld:
        studies_word = "study" if withheld == 1 else "studies"
        print(
            f"left out {withheld} reviewed {studies_word} whose scan may show burned-in text (a dentist who has "
            "looked marks a scan checked on its study page); manifest.json lists them"
        )
    return EXIT_OK


def add_storage_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--home", type=_path, default=None, help="data folder (default $XRAYREPORT_HOME or ~/.local/share/xrayreport)"
    )
    parser.add_argument(
        "--database-url", default=None, help="SQLAlchemy URL, e.g. postgresql+psycopg://... (default SQLite in --home)"
    )


def _path(text: str) -> Any:
    from pathlib import Path

    return Path(text).expanduser()


def register(commands: Any) -> None:
    """Add the ``serve`` and ``users`` subcommands to an argparse subparsers object."""
    from ..dicomnet.command import add_node_options

    serve = commands.add_parser(
        "serve",
        help="run the dentists' web workspace (upload, review, reports)",
        description="Run the web workspace: dentists log in, upload scans, review and correct findings "
        "and issue reports. The JSON API and its OpenAPI documentation live under /api and /docs.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--max-upload-mib", type=float, default=64, help="largest scan file accepted (default 64)")
    serve.add_argument(
        "--secure-cookies",
        action="store_true",
        help="mark the session cookie Secure on every answer (it is already whenever a request comes over HTTPS)",
    )
    serve.add_argument(
        "--trusted-proxy",
        action="append",
        metavar="ADDRESS",
        help="the address of a reverse proxy (TLS) whose X-Forwarded-For and X-Forwarded-Proto headers are believed; "
        "repeat for several; by default none is",
    )
    serve.add_argument(
        "--queue-only",
        action="store_true",
        help="analyse nothing in this process: 'xrayreport worker' processes analyse the uploads it queues "
        "(PostgreSQL only; docs/workers.md)",
    )
    add_node_options(serve, "dicom-", port=None)
    add_storage_options(serve)
    serve.set_defaults(run=_serve)

    worker = commands.add_parser(
        "worker",
        help="analyse the scans a workspace on PostgreSQL queues (run several, on several machines)",
        description="Take queued studies from the workspace's PostgreSQL database one at a time and analyse them "
        "with the workspace's active model, under a lease renewed while analysing: a study whose worker is killed "
        "is taken over by another once its lease runs out. The web front then runs with --queue-only. Every "
        "machine needs the workspace's home folder (scans, models) mounted at --home. SIGTERM or Ctrl-C stop the "
        "worker once the study in hand is stored. See docs/workers.md.",
    )
    worker.add_argument(
        "--lease-seconds",
        type=float,
        default=60.0,
        help="how long a study stays this worker's without a renewal; another worker takes over a killed worker's "
        "study this long after its last renewal (default 60)",
    )
    worker.add_argument(
        "--poll-seconds",
        type=float,
        default=5.0,
        help="how often an idle worker looks for work besides the front's notifications: for a study whose worker's "
        "lease ran out, or a lost notification (default 5)",
    )
    worker.add_argument(
        "--threads",
        type=int,
        default=None,
        help="onnxruntime threads for the model (default: every core; give cores / workers when several workers "
        "share a machine)",
    )
    add_storage_options(worker)
    worker.set_defaults(run=_worker)

    users = commands.add_parser("users", help="manage the workspace's user accounts")
    actions = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="create a user", description="Create a workspace user.")
    add.add_argument("name", help="user name (letters, digits, . _ -)")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin (for scripts; by default it is asked twice on the "
        "terminal, not echoed)",
    )
    add.add_argument(
        "--role",
        action="append",
        metavar="ROLE",
        help=ROLES_HELP + "; repeat for several; the first account gets admin and dentist when none is given",
    )
    add_storage_options(add)
    add.set_defaults(run=_users_add)
    roles = actions.add_parser(
        "roles", help="set a user's roles", description="Give a user exactly these roles (the last admin stays admin)."
    )
    roles.add_argument("name")
    roles.add_argument(
        "roles",
        nargs="+",
        metavar="ROLE",
        help=ROLES_HELP,
    )
    add_storage_options(roles)
    roles.set_defaults(run=_users_roles)
    revoke = actions.add_parser(
        "revoke",
        help="end every page session and API token of a user",
        description="End at once every page session and API token of a user (a lost laptop, someone leaving).",
    )
    revoke.add_argument("name")
    add_storage_options(revoke)
    revoke.set_defaults(run=_users_revoke)
    demo = commands.add_parser(
        "seed-demo",
        help="fill an empty workspace with invented patients (to try the recall list, or benchmark it)",
        description="Add invented patients over two years, each with a scan (one synthetic image, no real X-ray), "
        "an issued plan with steps in every state, consents and contacts. Only into a workspace without patients.",
    )
    demo.add_argument("--patients", type=int, default=2000, help="how many (default 2000)")
    add_storage_options(demo)
    demo.set_defaults(run=_seed_demo)
    listing = actions.add_parser("list", help="list the users and their roles")
    add_storage_options(listing)
    listing.set_defaults(run=_users_list)
    dataset = commands.add_parser("dataset", help="the workspace's reviewed studies as training data")
    dataset_actions = dataset.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = dataset_actions.add_parser(
        "export",
        help="write the reviewed studies as a training source (format xrayreport.training-export/1)",
        description="Write every reviewed study not kept out of training as a training source: de-identified PNG "
        "pixels under random names, teeth, final findings, rejected model findings, the classes each review "
        "covered, and a split by patient with the clinic's own test part (docs/learning.md). A study whose scan may "
        "show burned-in text (no DICOM header saying Burned In Annotation NO, and no dentist's mark 'checked: no "
        "burned-in text') is left out and listed in manifest.json (docs/exports.md). A dataset YAML with "
        "'format: xrayreport-export' reads the folder.",
    )
    export.add_argument("-o", "--out", type=_path, required=True, help="a new or empty folder, or a .zip file")
    add_storage_options(export)
    export.set_defaults(run=_dataset_export)
