"""A report whose text no installed font can show fails in one line naming the Debian package to install,
instead of a PDF of boxes. The machine without the font is simulated by a fontconfig file that rejects it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from xrayreport.report.fonts import check_fonts

FIXTURES = Path(__file__).parent / "fixtures"
SCANS = {"child": "tufts/images/15.jpg", "healthy": "tufts/images/9.jpg"}  # of the findings in fixtures/


def _without_fonts_for(tmp_path: Path, lang: str) -> dict[str, str]:
    """The environment of a machine like this one, minus every font that covers the language ``lang``."""
    files = subprocess.run(
        ["fc-list", f":lang={lang}", "file"], check=True, capture_output=True, text=True
    ).stdout.split()
    rejected = "".join(f"<glob>{file.rstrip(':')}</glob>" for file in files)
    config = tmp_path / "fonts.conf"
    config.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n<fontconfig>\n'
        '  <include ignore_missing="no">/etc/fonts/fonts.conf</include>\n'
        f"  <selectfont><rejectfont>{rejected}</rejectfont></selectfont>\n</fontconfig>\n"
    )
    return {**os.environ, "FONTCONFIG_FILE": str(config)}


def _report(
    env: dict[str, str], datasets_dir: Path, out: Path, lang: str, fixture: str = "child"
) -> subprocess.CompletedProcess[str]:
    args = [str(datasets_dir / SCANS[fixture]), "-o", str(out), "--findings", str(FIXTURES / f"{fixture}.json")]
    return subprocess.run(
        [sys.executable, "-m", "xrayreport", "report", *args, "--lang", lang],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_a_chinese_report_without_a_chinese_font_names_the_package(datasets_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.pdf"
    result = _report(_without_fonts_for(tmp_path, "zh"), datasets_dir, out, "zh")
    assert result.returncode == 1, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("xrayreport: error: ")
    assert "fonts-wqy-microhei" in result.stderr
    assert not out.exists()


def test_the_same_machine_renders_english_unless_the_patients_name_is_chinese(
    datasets_dir: Path, tmp_path: Path
) -> None:
    env = _without_fonts_for(tmp_path, "zh")
    result = _report(env, datasets_dir, tmp_path / "healthy.pdf", "en", "healthy")
    assert result.returncode == 0, result.stderr
    result = _report(env, datasets_dir, tmp_path / "child.pdf", "en")  # the child is 小明
    assert result.returncode == 1
    assert "2 Chinese ones: install the Debian package fonts-wqy-microhei" in result.stderr


def test_the_fonts_install_system_deps_brings_cover_every_report_language() -> None:
    check_fonts("<p>Your report &amp; 您的口腔健康报告，小明 Отчёт о\u00a0здоровье ✓◆✕⚠✂…–</p>")


def test_each_missing_script_is_named_with_its_package(tmp_path: Path) -> None:
    config = tmp_path / "no-fonts.conf"
    config.write_text('<?xml version="1.0"?>\n<fontconfig></fontconfig>\n')  # a machine without any font
    code = "from xrayreport.report.fonts import check_fonts; check_fonts('<b>Report</b> 报告 Отчёт \u0e01')"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "FONTCONFIG_FILE": str(config)},
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "xrayreport.report.fonts.MissingFontError: the report holds characters no installed font can show "
        "(they would print as empty boxes): 2 Chinese ones: install the Debian package fonts-wqy-microhei "
        "(sudo apt-get install fonts-wqy-microhei); 10 Latin, Greek or Cyrillic ones: install the Debian package "
        "fonts-dejavu-core (sudo apt-get install fonts-dejavu-core); 1 others (U+0E01): install a font that "
        "covers them"
    )
