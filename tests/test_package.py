import subprocess
import sys


def test_import_does_not_import_torch() -> None:
    code = (
        "import sys, xrayreport, xrayreport.cli, xrayreport.ingestion, xrayreport.findings;"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
