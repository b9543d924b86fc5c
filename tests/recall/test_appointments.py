"""Appointments CSV: columns by header, every bad row named by its line, nothing half-read."""

from __future__ import annotations

import datetime as dt

import pytest

from xrayreport.recall import Appointment, AppointmentImportError, parse_appointments

TODAY = dt.date(2026, 6, 1)


def test_rows_become_appointments_whatever_the_column_order() -> None:
    text = (
        "\ufeffdate,notes,patient_id,treatment,teeth\n"  # a spreadsheet's byte-order mark first
        "2026-05-04,x,P-1,filling,36\n"
        "2026-05-20,,P-2,,\n"
        "2026-05-21,,P-3,filling,16; 26\n"
    )
    assert parse_appointments(text, TODAY) == [
        Appointment(2, "P-1", dt.date(2026, 5, 4), "filling", ("36",)),
        Appointment(3, "P-2", dt.date(2026, 5, 20), None, ()),
        Appointment(4, "P-3", dt.date(2026, 5, 21), "filling", ("16", "26")),
    ]


def test_every_bad_row_is_named_and_nothing_is_read() -> None:
    text = (
        "patient_id,date,teeth\n"
        "P-1,2026-05-04,36\n"  # fine, but not imported: the file has bad rows
        ",2026-05-04,\n"
        "P-2,04/05/2026,\n"
        "P-3,2026-06-02,\n"
        "P-4,2026-05-04,19\n"
    )
    with pytest.raises(AppointmentImportError) as caught:
        parse_appointments(text, TODAY)
    assert caught.value.problems == [
        (3, "no patient_id"),
        (4, "date '04/05/2026' is not a date as YYYY-MM-DD"),
        (5, "date 2026-06-02 is in the future; import visits that took place"),
        (6, "teeth 19: not FDI tooth numbers (11-48, 51-85)"),
    ]
    assert str(caught.value).startswith("nothing was imported: line 3: no patient_id; line 4:")


def test_a_header_without_the_required_columns() -> None:
    with pytest.raises(AppointmentImportError, match=r"the header has no date column \(it has: patient_id, day\)"):
        parse_appointments("patient_id,day\nP-1,2026-05-04\n", TODAY)
