"""The staged, prevention-oriented plan built from a tooth chart and the rules table.

Every untreated finding becomes one step of one stage (findings of a grouped type share a step); the
maintenance stage is always there, with a review for existing implants and root-canal teeth; the
recall interval comes from risk; the next visit is the first stage with work to do, or the recall.
The plan holds wording keys, not sentences: the report translates them.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from ..chart import PROBLEM_TYPES, ChartTooth, ToothChart
from ..dentition import THIRD_MOLARS, is_primary
from ..findings import Finding
from .prices import Price, PriceList
from .rules import Offset, PlanRules, StageRule, StepRule, Text


@dataclass(frozen=True)
class PlanStep:
    """One thing to do: ``what`` and ``why`` (wording keys), for ``findings`` on ``teeth`` (FDI)."""

    stage: str
    treatment: str
    what: Text
    why: Text
    duration: Text | None
    findings: tuple[Finding, ...]
    teeth: tuple[str, ...]
    price: Price | None


@dataclass(frozen=True)
class PlanStage:
    """A stage of the plan with its steps; ``subtotal`` is set when every step has a price."""

    rule: StageRule
    number: int
    steps: tuple[PlanStep, ...]
    subtotal: Decimal | None


@dataclass(frozen=True)
class NextVisit:
    """The visit to book: for ``stage``, on ``date`` (``precision`` says whether the day or only the month counts)."""

    stage: StageRule
    steps: tuple[PlanStep, ...]
    date: dt.date
    precision: Literal["day", "month"]


@dataclass(frozen=True)
class Plan:
    """The whole plan: stages in order (treatment stages with steps, then maintenance), recall and next visit."""

    stages: tuple[PlanStage, ...]
    risk: str
    recall_months: int
    next_visit: NextVisit
    bring: tuple[Text, ...]
    currency: str | None
    total: Decimal | None  # set when a price list is given and every step has a price

    @property
    def steps(self) -> tuple[PlanStep, ...]:
        return tuple(step for stage in self.stages for step in stage.steps)


def build_plan(
    chart: ToothChart,
    rules: PlanRules,
    *,
    visit_date: dt.date,
    prices: PriceList | None = None,
    recall_months: int | None = None,
) -> Plan:
    """Turn the chart's untreated findings into the staged plan.

    ``visit_date`` is the day of the X-ray (the next visit is counted from it); ``recall_months``
    overrides the interval that the rules derive from risk (a clinic's choice, 1-24 months).
    """
    problems = [f for tooth in _in_tooth_order(chart) for f in tooth.problems]
    problems += [f for f in chart.unplaced if f.type in PROBLEM_TYPES]
    missing = [t.missing for t in _in_tooth_order(chart) if t.state == "missing" and t.missing is not None]
    missing += [f for f in chart.unplaced if f.type == "missing"]
    treated = [f for tooth in _in_tooth_order(chart) for f in tooth.treatments]
    treated += [f for f in chart.unplaced if f.type not in PROBLEM_TYPES and f.type != "missing"]

    by_stage: dict[str, list[PlanStep]] = {stage.id: [] for stage in rules.stages}
    for findings_of_type in _by_type(problems + missing):
        step_rule = rules.findings[findings_of_type[0].type].step
        if step_rule is None:
            continue
        kept = [f for f in findings_of_type if not _skipped(f, step_rule)]
        groups = [kept] if step_rule.group and kept else [[f] for f in kept]
        by_stage[step_rule.stage] += [_step(step_rule, group, prices) for group in groups]

    maintain_id = rules.maintenance_stage.id
    maintenance = [_step(rule, [], prices, maintain_id) for rule in rules.maintenance]
    for findings_of_type in _by_type(treated):
        maintain = rules.findings[findings_of_type[0].type].maintain
        if maintain is not None:
            maintenance.append(_step(maintain, findings_of_type, prices, maintain_id))
    by_stage[maintain_id] = maintenance

    active_caries = sum(1 for f in problems if f.type in {"caries", "deep_caries"})
    recall = next(row for row in rules.recall if row.matches(active_caries, len(problems)))
    months = recall.months if recall_months is None else recall_months

    stages: list[PlanStage] = []
    for stage_rule in rules.stages:
        steps = by_stage[stage_rule.id]
        if steps:
            stages.append(PlanStage(stage_rule, len(stages) + 1, tuple(steps), _sum(steps, prices)))
    first = stages[0]
    if first.rule.id != rules.maintenance_stage.id and first.rule.next_visit is not None:
        date, precision = date_after(visit_date, first.rule.next_visit)
    else:
        date, precision = date_after(visit_date, Offset(months=months))
    next_visit = NextVisit(first.rule, first.steps, date, precision)

    total = _sum([step for stage in stages for step in stage.steps], prices)
    return Plan(tuple(stages), recall.risk, months, next_visit, rules.bring, prices.currency if prices else None, total)


def _in_tooth_order(chart: ToothChart) -> list[ChartTooth]:
    return [chart.teeth[fdi] for fdi in sorted(chart.teeth, key=int)]


def _by_type(findings: Iterable[Finding]) -> list[list[Finding]]:
    groups: dict[str, list[Finding]] = {}
    for finding in findings:
        groups.setdefault(finding.type, []).append(finding)
    return list(groups.values())


def _skipped(finding: Finding, rule: StepRule) -> bool:
    if finding.tooth is None:
        return False
    if "third_molars" in rule.skip and finding.tooth in THIRD_MOLARS:
        return True
    return "primary_teeth" in rule.skip and is_primary(finding.tooth)


def _step(rule: StepRule, findings: list[Finding], prices: PriceList | None, stage: str | None = None) -> PlanStep:
    teeth = tuple(dict.fromkeys(f.tooth for f in findings if f.tooth is not None))
    price = prices.items.get(rule.treatment) if prices else None
    return PlanStep(
        stage or rule.stage, rule.treatment, rule.what, rule.why, rule.duration, tuple(findings), teeth, price
    )


def _sum(steps: list[PlanStep], prices: PriceList | None) -> Decimal | None:
    if prices is None or any(step.price is None for step in steps):
        return None
    return sum((step.price.amount for step in steps if step.price is not None), Decimal(0))


def date_after(start: dt.date, offset: Offset) -> tuple[dt.date, Literal["day", "month"]]:
    """``start`` plus ``offset`` and how precise it is: whole weeks give a day, months a month (the same day of
    the month, or the month's last day)."""
    if offset.weeks:
        return start + dt.timedelta(weeks=offset.weeks), "day"
    month_index = start.month - 1 + offset.months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return dt.date(year, month, day), "month"
