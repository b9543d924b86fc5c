import subprocess
import sys


def test_import_does_not_import_torch() -> None:
    code = (
        "import sys, xrayreport, xrayreport.cli, xrayreport.ingestion, xrayreport.findings;"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_command_line_works_without_the_web_extra() -> None:
    code = (
        "import sys\n"
        "for name in ('fastapi', 'starlette', 'uvicorn', 'sqlalchemy', 'alembic', 'argon2', 'itsdangerous'):\n"
        "    sys.modules[name] = None\n"
        "from xrayreport.cli import build_parser\n"
        "build_parser().parse_args(['analyze', 'scan.png', '-o', 'out.json'])\n"
        "print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "ok"
