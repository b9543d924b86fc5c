"""Everything the report shows, in one language, as plain data for the template.

:func:`build_report` runs chart and plan on a findings document and turns the result into a
:class:`ReportView`: translated, formatted strings and small records, so that the template only lays
them out. Numbers on the X-ray markers, in the chart and in "what we found" come from one numbering
(:func:`number_findings`), left to right on the upper row, then on the lower row.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import cv2

from ..changes import Change, Comparison, compare
from ..chart import PROBLEM_TYPES, TREATMENT_TYPES, ChartTooth, ToothChart, build_chart, patient_age_years
from ..dentition import THIRD_MOLARS, fdi_to_universal, is_primary
from ..findings import Finding, Findings, Patient, Study
from ..ingestion import Radiograph
from ..overlay import FINDING_STYLES, check_findings_match, draw_overlay
from ..plan import Plan, PlanRules, PlanStep, build_plan, load_rules
from .clinic import Clinic
from .i18n import Messages

XRAY_MAX_WIDTH = 1600
"""Pixels across of the X-ray figure: sharp at A4 width (about 230 dpi), small enough to render fast."""

_POSITIONS = {
    "1": "central incisor",
    "2": "lateral incisor",
    "3": "canine",
    "4": "first premolar",
    "5": "second premolar",
    "6": "first molar",
    "7": "second molar",
    "8": "wisdom tooth",
}
_PRIMARY_POSITIONS = {
    "1": "baby central incisor",
    "2": "baby lateral incisor",
    "3": "baby canine",
    "4": "baby first molar",
    "5": "baby second molar",
}
_SIDES = {"1": "upper right", "2": "upper left", "3": "lower left", "4": "lower right"}
STATE_LABELS = {
    "healthy": "Healthy",
    "treated": "Treated",
    "problem": "Needs care",
    "missing": "Missing",
    "not_seen": "Not seen on this X-ray",
    "not_erupted": "Not come through yet",
    "shed": "Baby tooth already lost",
}
_ROW_LABELS = {
    "upper": "Upper jaw",
    "upper_primary": "Upper baby teeth",
    "lower_primary": "Lower baby teeth",
    "lower": "Lower jaw",
}
_TIPS = (
    "Brush twice a day for two minutes with a fluoride toothpaste; spit, do not rinse.",
    "Clean between your teeth once a day with floss or small brushes.",
    "Keep sugary food and drinks to mealtimes; water is the best drink between meals.",
    "Do not smoke; ask us for help if you want to stop.",
    "Come to your check-ups even when nothing hurts: most problems do not hurt at first.",
)


@dataclass(frozen=True)
class LegendEntry:
    label: str
    hex: str
    line: str


@dataclass(frozen=True)
class ChartCell:
    number: str
    fdi: str
    state: str
    state_label: str
    marks: str  # numbers of its findings, "1, 7"


@dataclass(frozen=True)
class FoundItem:
    number: int
    name: str
    explain: str
    kind: str  # "problem" or "treated"
    hex: str
    line: str
    on_xray: bool


@dataclass(frozen=True)
class FoundGroup:
    title: str
    subtitle: str
    items: tuple[FoundItem, ...]


@dataclass(frozen=True)
class SinceGroup:
    """One list of "Since your last X-ray": ``kind`` treated, new or waiting, its heading and one line per tooth."""

    kind: str
    heading: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class SinceView:
    title: str
    groups: tuple[SinceGroup, ...]
    nothing_new: str | None  # said when no tooth changed and nothing waits


@dataclass(frozen=True)
class StepView:
    """One line of the plan; identical steps on several teeth share a line (``count`` of them)."""

    what: str
    why: str
    duration: str | None
    where: str
    price: str | None
    includes: str | None
    count: int


@dataclass(frozen=True)
class StageView:
    number: int
    id: str
    title: str
    purpose: str
    when: str
    steps: tuple[StepView, ...]
    subtotal: str | None


@dataclass(frozen=True)
class ReportView:
    """The whole report in one language, ready for ``templates/report.html.j2``."""

    lang: str
    html_lang: str
    clinic: Clinic
    patient_name: str | None
    patient_facts: tuple[tuple[str, str], ...]
    xray_data_uri: str
    xray_aspect: float  # the X-ray figure's width / height: the template lays a narrow one out beside its notes
    xray_legend: tuple[LegendEntry, ...]
    chart_rows: tuple[tuple[str, tuple[ChartCell, ...]], ...]
    chart_legend: tuple[tuple[str, str], ...]
    summary: tuple[tuple[str, str], ...]
    found: tuple[FoundGroup, ...]
    absent_notes: tuple[str, ...]
    stages: tuple[StageView, ...]
    total: str | None
    prices_shown: bool
    recall: str
    next_visit_reason: str
    next_visit_what: tuple[str, ...]
    next_visit_date: str
    bring: tuple[str, ...]
    tips: tuple[str, ...]
    about: tuple[str, ...]
    warnings: tuple[str, ...]
    since: SinceView | None
    plan: Plan = field(repr=False)
    chart: ToothChart = field(repr=False)


def number_findings(chart: ToothChart) -> dict[str, int]:
    """Marker numbers by finding id: problems and treatments of each tooth in display order, then unplaced ones."""
    numbers: dict[str, int] = {}
    for _, row in chart.rows():
        for tooth in row:
            for finding in tooth.problems + tooth.treatments:
                numbers[finding.id] = len(numbers) + 1
    for finding in sorted(chart.unplaced, key=lambda f: f.type not in PROBLEM_TYPES):
        if finding.type != "missing":
            numbers[finding.id] = len(numbers) + 1
    return numbers


@dataclass(frozen=True)
class PlannedCare:
    """What a report's plan rests on: the chart, the plan, the patient's age (years, when known), the X-ray's
    date (when known) and ``plan_start``, the day the plan counts from (the X-ray's date, or today when later)."""

    chart: ToothChart
    plan: Plan
    age_years: float | None
    study_date: dt.date | None
    plan_start: dt.date


def plan_care(
    radiograph: Radiograph,
    findings: Findings,
    *,
    clinic: Clinic | None = None,
    rules: PlanRules | None = None,
    age_years: float | None = None,
    today: dt.date | None = None,
) -> PlannedCare:
    """The chart and plan of ``findings`` as the report shows them (see :func:`build_report` for the arguments);
    issuing a report in the workspace tracks this plan's steps."""
    clinic = clinic or Clinic()
    rules = rules or clinic.rules or load_rules()
    today = today or dt.date.today()
    age = patient_age_years(_with_scan_identity(findings, radiograph), age_years, today)
    chart = build_chart(findings, age)
    study_date = _study_date(findings, radiograph)
    start = max(study_date or today, today)
    plan = build_plan(chart, rules, visit_date=start, prices=clinic.prices, recall_months=clinic.recall_months)
    return PlannedCare(chart, plan, age, study_date, start)


def build_report(
    radiograph: Radiograph,
    findings: Findings,
    messages: Messages,
    *,
    clinic: Clinic | None = None,
    rules: PlanRules | None = None,
    age_years: float | None = None,
    today: dt.date | None = None,
    previous: Findings | None = None,
) -> ReportView:
    """Chart, plan and every text of the report for ``findings`` on ``radiograph``, in ``messages``' language.

    ``age_years`` overrides the age in the document; ``today`` is the report date (default: today)
    and the start of the plan when the study has no date. ``previous`` is the patient's last reviewed scan
    before this one, if any: the report then says what changed since (:func:`since_view`). Raises
    :class:`FindingsError` when the findings were not made from this scan.
    """
    check_findings_match(radiograph, findings)
    clinic = clinic or Clinic()
    rules = rules or clinic.rules or load_rules()
    today = today or dt.date.today()
    _ = messages.gettext
    care = plan_care(radiograph, findings, clinic=clinic, rules=rules, age_years=age_years, today=today)
    age, chart, study_date, plan = care.age_years, care.chart, care.study_date, care.plan
    numbers = number_findings(chart)

    def tooth_number(fdi: str) -> str:
        return fdi_to_universal(fdi) if clinic.numbering == "universal" else fdi

    overlay = draw_overlay(
        radiograph, findings, numbered=numbers, show_teeth=True, labels=False, legend=False, max_width=XRAY_MAX_WIDTH
    )
    ok, jpeg = cv2.imencode(".jpg", overlay, [cv2.IMWRITE_JPEG_QUALITY, 88])
    if not ok:
        raise ValueError("OpenCV could not encode the X-ray figure as JPEG")
    xray_uri = "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode("ascii")
    drawn_types = dict.fromkeys(f.type for f in findings.findings if f.box is not None)
    legend = tuple(
        LegendEntry(messages.text(rules.findings[t].name), FINDING_STYLES[t].hex, FINDING_STYLES[t].line)
        for t in drawn_types
    )

    chart_rows = tuple(
        (
            _(_ROW_LABELS[name]),
            tuple(
                ChartCell(
                    tooth_number(t.fdi),
                    t.fdi,
                    t.state,
                    _(STATE_LABELS[t.state]),
                    ", ".join(str(numbers[f.id]) for f in t.problems + t.treatments),
                )
                for t in row
            ),
        )
        for name, row in chart.rows()
    )
    shown_states = dict.fromkeys(cell.state for _, row in chart_rows for cell in row)
    chart_legend = tuple((state, _(STATE_LABELS[state])) for state in STATE_LABELS if state in shown_states)

    seen = sum(1 for _, row in chart.rows() for t in row if t.state in {"healthy", "treated", "problem"})
    problems = sum(len(t.problems) for t in chart.teeth.values()) + sum(
        1 for f in chart.unplaced if f.type in PROBLEM_TYPES
    )
    treated = sum(1 for _, row in chart.rows() for t in row if t.state == "treated" or t.treatments)
    summary = (
        # "0 teeth seen" would be false when the teeth were there but could not be numbered.
        *(((str(seen), messages.ngettext("tooth seen", "teeth seen", seen)),) if seen else ()),
        (str(problems), messages.ngettext("finding needs care", "findings need care", problems)),
        (str(treated), messages.ngettext("treated tooth", "treated teeth", treated)),
    )

    found = _found_groups(chart, numbers, rules, messages, tooth_number)
    stages = tuple(_stage_view(stage, numbers, messages, tooth_number, plan) for stage in plan.stages)
    next_visit = plan.next_visit
    when = messages.date(next_visit.date) if next_visit.precision == "day" else messages.month(next_visit.date)
    next_date = _("by %(date)s", date=when) if next_visit.precision == "day" else _("around %(month)s", month=when)
    recall = messages.ngettext("Check-up every %(num)d month", "Check-up every %(num)d months", plan.recall_months)
    facts = _patient_facts(findings, radiograph, age, study_date, today, messages)
    return ReportView(
        lang=messages.language.code,
        html_lang=messages.language.html_lang,
        clinic=clinic,
        patient_name=(findings.patient.name if findings.patient else None) or radiograph.metadata.patient_name,
        patient_facts=facts,
        xray_data_uri=xray_uri,
        xray_aspect=overlay.shape[1] / overlay.shape[0],
        xray_legend=legend,
        chart_rows=chart_rows,
        chart_legend=chart_legend,
        summary=summary,
        found=found,
        absent_notes=_absent_notes(chart, messages, tooth_number),
        stages=stages,
        total=messages.money(plan.total, plan.currency) if plan.total is not None and plan.currency else None,
        prices_shown=clinic.prices is not None,
        recall=recall,
        next_visit_reason=messages.text(next_visit.stage.title),
        next_visit_what=tuple(_next_visit_line(g, messages, tooth_number) for g in _merged_steps(next_visit.steps)),
        next_visit_date=next_date,
        bring=tuple(messages.text(item) for item in plan.bring),
        tips=tuple(_(tip) for tip in _TIPS),
        about=_about(findings, messages),
        warnings=_warnings(findings, chart, messages, tooth_number),
        since=None
        if previous is None
        else since_view(compare(previous, findings), previous, rules, messages, tooth_number),
        plan=plan,
        chart=chart,
    )


_REMOVED_PROBLEMS = frozenset({"residual_root", "fracture", "deep_caries", "periapical_lesion", "impacted"})
"""Problems whose usual end is the tooth taken out: a tooth that had one and is gone now was treated."""


def since_view(
    comparison: Comparison, previous: Findings, rules: PlanRules, messages: Messages, tooth_number: Any
) -> SinceView:
    """ "Since your last X-ray": what was treated (a success to name, a new implant or restoration included, and a
    tooth with a root or a break taken out), what is new (a problem, a lesion, caries grown deeper, a tooth lost),
    and the problems unchanged and still waiting. A finding merely gone (not seen again, nothing treated) is the
    dentist's to explain and is left out."""
    _ = messages.gettext

    def names(found: tuple[Finding, ...]) -> str:
        return "; ".join(dict.fromkeys(messages.text(rules.findings[f.type].name) for f in found))

    def line(change: Change, what: str) -> str:
        return _("%(tooth)s: %(what)s", tooth=_("Tooth %(number)s", number=tooth_number(change.tooth)), what=what)

    treated, new, waiting = [], [], []
    for change in comparison.changes:
        if change.kind in ("treated", "implant_placed"):
            treated.append(line(change, names(change.later)))
        elif change.kind in ("new", "new_lesion"):
            done = tuple(f for f in change.later if f.type in TREATMENT_TYPES)
            found = tuple(f for f in change.later if f.type not in TREATMENT_TYPES)
            if done:
                treated.append(line(change, names(done)))
            if found:
                new.append(line(change, names(found)))
        elif change.kind == "worsened":
            new.append(line(change, _("%(what)s, grown since then", what=names(change.later))))
        elif change.kind == "newly_missing":
            removed = any(f.type in _REMOVED_PROBLEMS for f in change.earlier)
            (treated if removed else new).append(
                line(change, _("taken out") if removed else messages.text(rules.findings["missing"].name))
            )
        elif change.kind == "unchanged":
            waiting.append(line(change, names(change.later)))
    day = previous.study.date if previous.study and previous.study.date else None
    title = (
        _("Since your last X-ray (%(date)s)", date=messages.date(dt.date.fromisoformat(day)))
        if day
        else _("Since your last X-ray")
    )
    groups = tuple(
        SinceGroup(kind, heading, tuple(lines))
        for kind, heading, lines in (
            ("treated", _("Treated since then: well done."), treated),
            ("new", _("New since then:"), new),
            ("waiting", _("Unchanged, still waiting for care:"), waiting),
        )
        if lines
    )
    return SinceView(title, groups, None if groups else _("Nothing has changed on your teeth since then."))


def tooth_name(fdi: str, messages: Messages) -> str:
    """The tooth in everyday words: "upper right first molar", "右上第一磨牙"."""
    positions = _PRIMARY_POSITIONS if is_primary(fdi) else _POSITIONS
    side = _SIDES[str((int(fdi[0]) - 1) % 4 + 1)]
    return messages.gettext(
        "%(side)s %(tooth)s", side=messages.gettext(side), tooth=messages.gettext(positions[fdi[1]])
    )


def _with_scan_identity(findings: Findings, radiograph: Radiograph) -> Findings:
    # The scan's own birth and study dates count when the findings document does not carry them.
    meta = radiograph.metadata
    patient = findings.patient or Patient()
    study = findings.study or Study()
    return replace(
        findings,
        patient=replace(patient, birth_date=patient.birth_date or meta.birth_date),
        study=replace(study, date=study.date or meta.study_date),
    )


def _study_date(findings: Findings, radiograph: Radiograph) -> dt.date | None:
    text = (findings.study.date if findings.study else None) or radiograph.metadata.study_date
    return dt.date.fromisoformat(text) if text else None


def _patient_facts(
    findings: Findings,
    radiograph: Radiograph,
    age: float | None,
    study_date: dt.date | None,
    today: dt.date,
    messages: Messages,
) -> tuple[tuple[str, str], ...]:
    _ = messages.gettext
    facts = []
    if age is not None:
        facts.append((_("Age"), messages.ngettext("%(num)d year", "%(num)d years", int(age))))
    facts.append((_("X-ray taken"), messages.date(study_date) if study_date else _("date not recorded")))
    facts.append((_("Report made"), messages.date(today)))
    return tuple(facts)


def _found_groups(
    chart: ToothChart,
    numbers: Mapping[str, int],
    rules: PlanRules,
    messages: Messages,
    tooth_number: Any,
) -> tuple[FoundGroup, ...]:
    def item(finding: Finding) -> FoundItem:
        style = FINDING_STYLES[finding.type]
        rule = rules.findings[finding.type]
        kind = "problem" if finding.type in PROBLEM_TYPES else "treated"
        return FoundItem(
            numbers[finding.id],
            messages.text(rule.name),
            messages.text(rule.explain),
            kind,
            style.hex,
            style.line,
            finding.box is not None,
        )

    groups = []
    for _, row in chart.rows():
        for tooth in row:
            findings = tooth.problems + tooth.treatments
            if findings:
                title = messages.gettext("Tooth %(number)s", number=tooth_number(tooth.fdi))
                groups.append(FoundGroup(title, tooth_name(tooth.fdi, messages), tuple(map(item, findings))))
    unplaced = [f for f in chart.unplaced if f.type != "missing"]
    if unplaced:
        unplaced.sort(key=lambda f: numbers[f.id])
        groups.append(
            FoundGroup(
                messages.gettext("Tooth not identified"),
                messages.gettext("The number of the tooth could not be told from the X-ray."),
                tuple(map(item, unplaced)),
            )
        )
    return tuple(groups)


def _teeth_list(teeth: list[ChartTooth] | tuple[str, ...], tooth_number: Any) -> str:
    fdis = sorted((t if isinstance(t, str) else t.fdi for t in teeth), key=int)
    return ", ".join(tooth_number(fdi) for fdi in fdis)


def _absent_notes(chart: ToothChart, messages: Messages, tooth_number: Any) -> tuple[str, ...]:
    _ = messages.gettext
    shown = [t for _row, row in chart.rows() for t in row]
    if not any(t.state in {"healthy", "treated", "problem", "missing"} for t in shown):
        return (_("The teeth could not be numbered on this X-ray. Your dentist will chart them in your mouth."),)
    notes = []
    missing = [t for t in shown if t.state == "missing" and t.fdi not in THIRD_MOLARS and not is_primary(t.fdi)]
    wisdom = [t for t in shown if t.state == "missing" and t.fdi in THIRD_MOLARS]
    not_seen = [t for t in shown if t.state == "not_seen" and not is_primary(t.fdi)]
    not_erupted = [t for t in shown if t.state == "not_erupted"]
    if missing:
        notes.append(_("Missing teeth: %(teeth)s.", teeth=_teeth_list(missing, tooth_number)))
    if wisdom:
        notes.append(
            _(
                "Wisdom teeth not present: %(teeth)s. This is common and needs no treatment.",
                teeth=_teeth_list(wisdom, tooth_number),
            )
        )
    if not_erupted:
        notes.append(
            _(
                "Not come through yet: %(teeth)s. At this age that is normal.",
                teeth=_teeth_list(not_erupted, tooth_number),
            )
        )
    if not_seen:
        notes.append(
            _(
                "Not seen on this X-ray: %(teeth)s. Your dentist will check these teeth in your mouth.",
                teeth=_teeth_list(not_seen, tooth_number),
            )
        )
    return tuple(notes)


def _merged_steps(steps: tuple[PlanStep, ...]) -> list[list[PlanStep]]:
    """Steps of the same treatment and wording together, in plan order, for one line each.

    Five fillings read better as one line "A filling - teeth 16, 24, 25, 35, 45" than as five.
    """
    merged: dict[tuple[str, str], list[PlanStep]] = {}
    for step in steps:
        merged.setdefault((step.treatment, repr(step.what)), []).append(step)
    return list(merged.values())


def _merged_teeth(group: list[PlanStep]) -> tuple[str, ...]:
    """The FDI numbers of a merged step's teeth, each once."""
    return tuple(dict.fromkeys(t for step in group for t in step.teeth))


def _next_visit_line(group: list[PlanStep], messages: Messages, tooth_number: Any) -> str:
    """One merged step of the next visit with its teeth: "A filling — teeth 16, 24"."""
    what = messages.text(group[0].what)
    teeth = _merged_teeth(group)
    if not teeth:
        return what
    return messages.ngettext(
        "%(what)s — tooth %(teeth)s",
        "%(what)s — teeth %(teeth)s",
        len(teeth),
        what=what,
        teeth=_teeth_list(teeth, tooth_number),
    )


def _stage_view(stage: Any, numbers: Mapping[str, int], messages: Messages, tooth_number: Any, plan: Plan) -> StageView:
    _ = messages.gettext
    steps = []
    for group in _merged_steps(stage.steps):
        first = group[0]
        teeth = _merged_teeth(group)
        findings = [f for step in group for f in step.findings]
        where = ""
        if teeth:
            where = messages.ngettext(
                "Tooth %(teeth)s", "Teeth %(teeth)s", len(teeth), teeth=_teeth_list(teeth, tooth_number)
            )
        elif findings:
            where = _("Tooth not identified")
        marks = sorted(numbers[f.id] for f in findings if f.id in numbers)
        if marks:
            where += (" · " if where else "") + _("no. %(numbers)s", numbers=", ".join(map(str, marks)))
        price = None
        if first.price is not None and plan.currency:
            price = messages.money(first.price.amount * len(group), plan.currency)
            if len(group) > 1:
                each = messages.money(first.price.amount, plan.currency)
                price = _("%(count)d × %(each)s = %(total)s", count=len(group), each=each, total=price)
        steps.append(
            StepView(
                what=messages.text(first.what),
                why=messages.text(first.why),
                duration=messages.text(first.duration) if first.duration else None,
                where=where,
                price=price,
                includes=messages.text(first.price.includes) if first.price else None,
                count=len(group),
            )
        )
    subtotal = messages.money(stage.subtotal, plan.currency) if stage.subtotal is not None and plan.currency else None
    when = messages.text(stage.rule.when)
    if stage.rule.id == plan.stages[-1].rule.id:
        when = messages.ngettext("every %(num)d month", "every %(num)d months", plan.recall_months)
    return StageView(
        stage.number,
        stage.rule.id,
        messages.text(stage.rule.title),
        messages.text(stage.rule.purpose),
        when,
        tuple(steps),
        subtotal,
    )


def _about(findings: Findings, messages: Messages) -> tuple[str, ...]:
    _ = messages.gettext
    lines = [
        _(
            "Software (%(model)s, version %(version)s) looked at your X-ray and marked teeth, "
            "problems and treatments. It helps your dentist; it does not make a diagnosis.",
            model=findings.model.name,
            version=findings.model.version,
        )
    ]
    review = findings.review
    if review is not None and review.reviewed_by:
        lines.append(
            _(
                "%(dentist)s checked and corrected every finding before this report was made.",
                dentist=review.reviewed_by,
            )
        )
    else:
        lines.append(_("A dentist checks every finding with you before this report is used."))
    lines.append(
        _(
            "An X-ray shows a lot but not everything: your dentist also looks at your teeth and gums, "
            "and this plan may change after that examination."
        )
    )
    return tuple(lines)


def _warnings(findings: Findings, chart: ToothChart, messages: Messages, tooth_number: Any) -> tuple[str, ...]:
    _ = messages.gettext
    out = []
    if findings.quality is not None and findings.quality.verdict != "ok":
        out.append(_("The X-ray quality is limited; some findings may be missed. Your dentist will tell you more."))
    for notice in chart.notices:
        teeth = _teeth_list(notice.teeth, tooth_number)
        count = len(notice.teeth)
        if notice.code == "missing_but_present":
            out.append(
                messages.ngettext(
                    "Tooth %(teeth)s is marked missing but was also seen; please ask your dentist.",
                    "Teeth %(teeth)s are marked missing but were also seen; please ask your dentist.",
                    count,
                    teeth=teeth,
                )
            )
        else:
            out.append(
                messages.ngettext(
                    "Tooth %(teeth)s is marked missing, but at this age it may not have come through yet.",
                    "Teeth %(teeth)s are marked missing, but at this age they may not have come through yet.",
                    count,
                    teeth=teeth,
                )
            )
    if not findings.review or not findings.review.reviewed_by:
        out.append(_("These findings have not been confirmed by a dentist yet."))
    return tuple(out)
