"""Tracked plan steps: what an issued plan becomes, and which state changes are allowed."""

from __future__ import annotations

import datetime as dt

import pytest

from xrayreport.chart import build_chart
from xrayreport.dentition import PERMANENT_TEETH
from xrayreport.findings import Finding, Findings, ImageInfo, ModelInfo, Tooth
from xrayreport.plan import build_plan, load_rules
from xrayreport.recall import StepChange, StepState, StepStateError, check_change, steps_to_track

XRAY = dt.date(2026, 1, 31)
TODAY = dt.date(2026, 3, 2)


def _plan(findings: list[tuple[str, str]]):  # type: ignore[no-untyped-def]
    document = Findings(
        image=ImageInfo(1000, 500, "0" * 64),
        model=ModelInfo("test", "1"),
        teeth=tuple(Tooth(fdi, None) for fdi in PERMANENT_TEETH),
        findings=tuple(Finding(f"f{i}", kind, tooth, None) for i, (kind, tooth) in enumerate(findings)),
    )
    return build_plan(build_chart(document, 40), load_rules(), visit_date=XRAY)


def test_every_step_of_the_plan_is_tracked_with_its_stages_due_date() -> None:
    plan = _plan([("deep_caries", "36"), ("caries", "16"), ("caries", "26"), ("implant", "46")])
    tracked = steps_to_track(plan, XRAY)
    assert len(tracked) == len(plan.steps)
    urgent = [s for s in tracked if s.stage == "urgent"]
    assert urgent and all(s.due_by == dt.date(2026, 2, 14) and s.stage_number == 1 for s in urgent)  # 2 weeks
    fillings = [s for s in tracked if s.treatment == "filling"]
    assert sorted(s.teeth for s in fillings) == [("16",), ("26",)]
    assert {s.due_by for s in fillings} == {dt.date(2026, 2, 28)}  # 4 weeks after 31 January
    maintenance = [s for s in tracked if s.stage == "maintain"]
    assert plan.recall_months == 3  # high caries risk
    assert [s.treatment for s in maintenance] == ["checkup", "implant_review"]
    assert {s.due_by for s in maintenance} == {dt.date(2026, 4, 30)}  # 3 months after 31 January: April's last day


@pytest.mark.parametrize(
    ("current", "change"),
    [
        (StepState.PLANNED, StepChange(StepState.BOOKED, on=dt.date(2026, 4, 1))),
        (StepState.PLANNED, StepChange(StepState.DONE, on=TODAY)),
        (StepState.BOOKED, StepChange(StepState.BOOKED, on=dt.date(2026, 4, 8))),  # moved
        (StepState.BOOKED, StepChange(StepState.PLANNED)),  # the booking was cancelled
        (StepState.BOOKED, StepChange(StepState.DECLINED, reason="prefers to wait")),
        (StepState.PLANNED, StepChange(StepState.NOT_NEEDED, reason="tooth 36 extracted elsewhere")),
        (StepState.DONE, StepChange(StepState.PLANNED)),  # marked done by mistake
    ],
)
def test_allowed_changes(current: StepState, change: StepChange) -> None:
    check_change(current, change, TODAY)


@pytest.mark.parametrize(
    ("current", "change", "message"),
    [
        (StepState.DONE, StepChange(StepState.DECLINED, reason="x"), "a done step cannot become declined"),
        (StepState.PLANNED, StepChange(StepState.BOOKED), "needs its date"),
        (StepState.PLANNED, StepChange(StepState.DONE), "needs its date"),
        (StepState.PLANNED, StepChange(StepState.DONE, on=TODAY + dt.timedelta(days=1)), "after today"),
        (StepState.PLANNED, StepChange(StepState.DECLINED, reason="  "), "say why the step is declined"),
        (StepState.PLANNED, StepChange(StepState.NOT_NEEDED), "say why the step is not needed"),
        (StepState.PLANNED, StepChange(StepState.DECLINED, reason="x" * 501), "501 characters"),
        (StepState.PLANNED, StepChange(StepState.PLANNED), "a planned step cannot become planned"),
    ],
)
def test_refused_changes_say_why(current: StepState, change: StepChange, message: str) -> None:
    with pytest.raises(StepStateError, match=message):
        check_change(current, change, TODAY)
