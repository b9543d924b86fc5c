"""The clinic's own figures: who came, who has a plan, how far plans got, who is sleeping, what recalls
achieved, and, with prices in the clinic file, a patient's lifetime value. Each figure carries its period and
how it is computed; the page draws them as small bar charts."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..plan import Offset, PriceList, date_after
from ..recall import OPEN_STATES, Category, StepState
from .models import CONTACT_OUTCOMES, Contact, PatientStanding, PlanStepRecord, Study, Visit
from .reports import clinic_file_of
from .standings import refresh_standings
from .workspace import Workspace

STEP_KINDS = ("done", "open", "declined or not needed")


@dataclass(frozen=True)
class Figure:
    """A titled set of bars (label, value), with the period it covers and the formula it was computed by."""

    title: str
    bars: tuple[tuple[str, float], ...]
    period: str
    formula: str


def clinic_figures(db: Session, today: dt.date, prices: PriceList | None) -> list[Figure]:
    """Every figure of the dashboard as of ``today`` (the recall standings must be refreshed first)."""
    year_ago = date_after(today, Offset(months=-12))[0]
    period = f"{year_ago.isoformat()} to {today.isoformat()}"
    visits = _visit_days(db)
    recent = {(patient, day) for patient, day in visits if year_ago < day <= today}
    seen = {patient for patient, _ in recent}
    months = [date_after(today.replace(day=1), Offset(months=-i))[0] for i in range(11, -1, -1)]
    monthly = Counter(day.replace(day=1) for _, day in {(p, d.replace(day=1)) for p, d in recent})
    steps = db.execute(
        select(
            PlanStepRecord.patient_id,
            PlanStepRecord.stage,
            PlanStepRecord.state,
            PlanStepRecord.treatment,
            PlanStepRecord.state_on,
        )
    ).all()
    planned = {patient for patient, *_ in steps}
    by_stage = Counter((stage, _kind(state)) for _, stage, state, _, _ in steps)
    stages = sorted({stage for stage, _ in by_stage})
    figures = [
        Figure(
            "Patients seen, per month",
            tuple((m.strftime("%Y-%m"), float(monthly[m])) for m in months),
            period,
            f"patients with a scan or a recorded visit in the month ({len(seen)} different patients in the 12 months)",
        ),
        Figure(
            "Patients seen who have a plan",
            (("with a plan", float(len(seen & planned))), ("without", float(len(seen - planned)))),
            period,
            f"{_share(len(seen & planned), len(seen))} = patients seen with a tracked plan step / patients seen",
        ),
        Figure(
            "Plan steps by stage and state",
            tuple((f"{stage}: {kind}", float(by_stage[(stage, kind)])) for stage in stages for kind in STEP_KINDS),
            "every plan issued so far",
            "tracked plan steps counted by their stage and state",
        ),
        Figure(
            "Sleeping patients by category",
            tuple((category.value, float(count)) for category, count in _sleeping(db, today).items()),
            f"as of {today.isoformat()}",
            "patients past their category's waiting time since the last visit, with no booking ahead",
        ),
        Figure(
            "Recall contacts this month by outcome",
            tuple((outcome, float(count)) for outcome, count in _outcomes(db, today.replace(day=1)).items()),
            f"{today.replace(day=1).isoformat()} to {today.isoformat()}",
            "contacts recorded from the recall list or the patient page",
        ),
    ]
    if prices is not None:
        done_in_period = [
            treatment
            for _, _, state, treatment, on in steps
            if state == StepState.DONE and on and year_ago.isoformat() < on <= today.isoformat()
        ]
        figures.append(_lifetime_value(done_in_period, len(recent), len(seen), visits, prices, period))
    return figures


def _kind(state: str) -> str:
    if state == StepState.DONE:
        return "done"
    return "open" if state in OPEN_STATES else "declined or not needed"


def _visit_days(db: Session) -> set[tuple[int, dt.date]]:
    days = {
        (patient, dt.date.fromisoformat(day) if day else created.date())
        for patient, day, created in db.execute(select(Study.patient_id, Study.study_date, Study.created_at))
    }
    days |= {
        (patient, dt.date.fromisoformat(day)) for patient, day in db.execute(select(Visit.patient_id, Visit.visited_on))
    }
    return days


def _sleeping(db: Session, today: dt.date) -> dict[Category, int]:
    counts = dict.fromkeys(Category, 0)
    day = today.isoformat()
    for category, asleep_from, booked_until in db.execute(
        select(PatientStanding.category, PatientStanding.asleep_from, PatientStanding.booked_until)
    ):
        if category and asleep_from and asleep_from <= day and not (booked_until and booked_until >= day):
            counts[Category(category)] += 1
    return counts


def _outcomes(db: Session, since: dt.date) -> dict[str, int]:
    counts = dict.fromkeys(CONTACT_OUTCOMES, 0)
    for outcome, on in db.execute(select(Contact.outcome, Contact.contacted_on)):
        if on >= since.isoformat() and outcome in counts:
            counts[outcome] += 1
    return counts


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "-"


def _lifetime_value(
    done: list[str], visit_count: int, seen: int, visits: set[tuple[int, dt.date]], prices: PriceList, period: str
) -> Figure:
    """Average bill per visit x visits per patient and year x years retained, as the practice essays compute it."""
    billed = float(sum(prices.items[t].amount for t in done if t in prices.items))
    per_visit = billed / visit_count if visit_count else 0.0
    per_year = visit_count / seen if seen else 0.0
    spans: dict[int, list[dt.date]] = {}
    for patient, day in visits:
        spans.setdefault(patient, []).append(day)
    years = [max(1.0, (max(days) - min(days)).days / 365.25) for days in spans.values()]
    retained = sum(years) / len(years) if years else 0.0
    return Figure(
        f"Lifetime value per patient ({prices.currency})",
        (
            ("bill per visit", round(per_visit, 2)),
            ("visits per year", round(per_year, 2)),
            ("years retained", round(retained, 2)),
            ("lifetime value", round(per_visit * per_year * retained, 2)),
        ),
        period,
        "bill per visit (prices of the steps done / visits) x visits per patient and year x years retained "
        "(first to last visit of each patient, at least one year)",
    )


def workspace_figures(workspace: Workspace) -> list[Figure]:
    """The dashboard of the workspace as of its today, with the clinic file's prices when it has them."""
    refresh_standings(workspace.sessions, workspace.sleep_rules)
    clinic = clinic_file_of(workspace.config.home)
    with workspace.sessions() as db:
        return clinic_figures(db, workspace.config.clock().date(), clinic.prices if clinic else None)
