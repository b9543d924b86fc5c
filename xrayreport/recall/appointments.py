"""Visits from the clinic's practice-management system: a CSV of past appointments.

Columns (a header row names them; order is free, other columns are ignored):

- ``patient_id``: the clinic's patient ID, as in the workspace;
- ``date``: the day of the visit, YYYY-MM-DD (not in the future);
- ``treatment`` (optional): what was done, as a price-list key of the plan rules (``filling``,
  ``deep_filling``, ``checkup``...): the patient's open step of that treatment is marked done that day;
- ``teeth`` (optional): the FDI numbers it was done on, separated by spaces, commas or semicolons, to
  pick the step when several have that treatment.

Every row is checked before anything is stored: one bad row (its line number and what is wrong) and
nothing of the file is imported.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass

from ..errors import XrayReportError

REQUIRED_COLUMNS = ("patient_id", "date")
MAX_ROWS = 100_000
_TEETH = re.compile(r"[\s,;]+")
_FDI = re.compile(r"^([1-4][1-8]|[5-8][1-5])$")


@dataclass(frozen=True)
class Appointment:
    line: int  # in the file, the header being line 1
    patient_id: str
    on: dt.date
    treatment: str | None
    teeth: tuple[str, ...]


class AppointmentImportError(XrayReportError):
    """The file cannot be imported; ``problems`` lists (line, what is wrong), line 0 for the whole file."""

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        shown = "; ".join(f"line {line}: {text}" if line else text for line, text in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"nothing was imported: {shown}{more}")


def parse_appointments(text: str, today: dt.date) -> list[Appointment]:
    """The appointments of a CSV text; raises :class:`AppointmentImportError` listing every bad row."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))  # a spreadsheet's byte-order mark
    columns = [c.strip() for c in reader.fieldnames or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        found = ", ".join(columns) or "none"
        raise AppointmentImportError([(0, f"the header has no {', '.join(missing)} column (it has: {found})")])
    appointments: list[Appointment] = []
    problems: list[tuple[int, str]] = []
    for row in reader:
        line = reader.line_num
        if len(appointments) + len(problems) >= MAX_ROWS:
            problems.append((line, f"more than {MAX_ROWS:,} rows; split the file"))
            break
        values = {(k or "").strip(): (v or "").strip() for k, v in row.items() if isinstance(v, str)}
        patient_id, day, treatment = values.get("patient_id", ""), values.get("date", ""), values.get("treatment", "")
        teeth = tuple(t for t in _TEETH.split(values.get("teeth", "")) if t)
        if not patient_id:
            problems.append((line, "no patient_id"))
            continue
        try:
            on = dt.date.fromisoformat(day)
        except ValueError:
            problems.append((line, f"date {day!r} is not a date as YYYY-MM-DD"))
            continue
        if on > today:
            problems.append((line, f"date {day} is in the future; import visits that took place"))
            continue
        bad = [t for t in teeth if not _FDI.match(t)]
        if bad:
            problems.append((line, f"teeth {' '.join(bad)}: not FDI tooth numbers (11-48, 51-85)"))
            continue
        appointments.append(Appointment(line, patient_id, on, treatment or None, teeth))
    if problems:
        raise AppointmentImportError(problems)
    return appointments
