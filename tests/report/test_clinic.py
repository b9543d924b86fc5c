"""The clinic file: identity, logo, numbering, prices, recall and its own plan rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from xrayreport.errors import UnknownNameError
from xrayreport.plan import PlanRulesError, default_rules_text
from xrayreport.recall import Category
from xrayreport.report import ClinicConfigError, load_clinic


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "clinic.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_full_clinic_file(tmp_path: Path) -> None:
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 16)
    (tmp_path / "rules.yaml").write_text(default_rules_text().replace("{weeks: 2}", "{weeks: 1}"), encoding="utf-8")
    clinic = load_clinic(
        write(
            tmp_path,
            "name: Smile\nphone: 555 0100\nlogo: logo.png\nnumbering: universal\nrecall_months: 4\n"
            "rules: rules.yaml\nprices:\n  currency: EUR\n  items:\n"
            "    filling: {amount: 80, includes: anaesthesia and the filling}\n",
        )
    )
    assert (clinic.name, clinic.phone, clinic.numbering, clinic.recall_months) == ("Smile", "555 0100", "universal", 4)
    assert clinic.logo is not None and clinic.logo.startswith("data:image/png;base64,")
    assert clinic.rules is not None and clinic.rules.stages[0].next_visit is not None
    assert clinic.rules.stages[0].next_visit.weeks == 1
    assert clinic.prices is not None and clinic.prices.currency == "EUR"


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("name: A\ncolour: blue\n", ClinicConfigError, "unknown key 'colour'"),
        ("recall_months: 36\n", ClinicConfigError, "from 1 to 24"),
        ("numbering: palmer\n", UnknownNameError, "valid tooth numberings are: fdi, universal"),
        ("logo: logo.gif\n", ClinicConfigError, "PNG, JPEG or SVG"),
        ("logo: absent.png\n", ClinicConfigError, "no such file"),
        ("rules: absent.yaml\n", PlanRulesError, "no such plan rules file"),
        ("prices: {currency: EUR, items: {filling: 80}}\n", PlanRulesError, "includes"),
        ("- just\n- a list\n", ClinicConfigError, "expected a mapping"),
        ("recalls: {sleeping_after_months: {asleep: 2}}\n", UnknownNameError, "valid patient categories are: all_done"),
        ("recalls: {sleeping_after_months: {all_done: 0}}\n", ClinicConfigError, "all_done: expected whole months"),
        ("recalls: {contact_interval_days: -1}\n", ClinicConfigError, "from 0 to 365, got -1"),
        ("recalls: {every: 3}\n", ClinicConfigError, "expected 'sleeping_after_months'"),
    ],
)
def test_bad_clinic_files_name_the_key(tmp_path: Path, text: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        load_clinic(write(tmp_path, text))


def test_a_clinic_sets_when_patients_count_as_sleeping_and_how_often_they_are_contacted(tmp_path: Path) -> None:
    text = "recalls:\n  sleeping_after_months: {partly_done: 2, all_done: 12}\n  contact_interval_days: 30\n"
    rules = load_clinic(write(tmp_path, text)).sleep_rules
    assert rules is not None and rules.contact_interval_days == 30
    assert rules.wait_months == {
        Category.NOT_TREATED: 1,  # the defaults stay where the file says nothing
        Category.COMPLAINT_ONLY: 1,
        Category.PARTLY_DONE: 2,
        Category.ALL_DONE: 12,
    }
    assert load_clinic(write(tmp_path, "name: A\n")).sleep_rules is None


def test_missing_clinic_file(tmp_path: Path) -> None:
    with pytest.raises(ClinicConfigError, match="no such clinic file"):
        load_clinic(tmp_path / "absent.yaml")
