"""The staged plan and its rules table, from small hand-made charts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from xrayreport.chart import build_chart
from xrayreport.dentition import PERMANENT_TEETH
from xrayreport.errors import UnknownNameError
from xrayreport.findings import Finding, Findings, ImageInfo, ModelInfo, Tooth
from xrayreport.plan import (
    PlanRulesError,
    build_plan,
    default_rules_text,
    load_rules,
    price_list_from_dict,
    rules_from_dict,
)

DAY = dt.date(2026, 3, 2)


def chart_of(findings: list[tuple[str, str | None]], absent: tuple[str, ...] = (), age: float | None = 40):  # type: ignore[no-untyped-def]
    doc = Findings(
        image=ImageInfo(1000, 500, "0" * 64),
        model=ModelInfo("test", "1"),
        teeth=tuple(Tooth(fdi, None) for fdi in PERMANENT_TEETH if fdi not in absent),
        findings=tuple(Finding(f"f{i}", kind, tooth, None) for i, (kind, tooth) in enumerate(findings)),
    )
    return build_chart(doc, age)


def test_every_untreated_finding_becomes_one_step_in_its_stage() -> None:
    chart = chart_of(
        [("deep_caries", "14"), ("caries", "16"), ("caries", "25"), ("caries", "35"), ("periapical_lesion", "46")]
    )
    plan = build_plan(chart, load_rules(), visit_date=DAY)
    assert [(s.rule.id, len(s.steps)) for s in plan.stages] == [("urgent", 2), ("restore", 3), ("maintain", 1)]
    assert [s.teeth for s in plan.stages[1].steps] == [("16",), ("25",), ("35",)]
    # 4 active caries -> high risk, 3-month recall; the next visit is the urgent stage, 2 weeks on, to the day.
    assert (plan.risk, plan.recall_months) == ("high", 3)
    assert (plan.next_visit.stage.id, plan.next_visit.date, plan.next_visit.precision) == (
        "urgent",
        dt.date(2026, 3, 16),
        "day",
    )


def test_missing_teeth_share_one_step_and_third_molars_are_never_replaced() -> None:
    chart = chart_of([("missing", "36"), ("missing", "46"), ("missing", "18")], absent=("36", "46", "18"))
    plan = build_plan(chart, load_rules(), visit_date=DAY)
    replace = next(s for s in plan.stages if s.rule.id == "replace")
    assert [step.teeth for step in replace.steps] == [("36", "46")]
    assert plan.next_visit.stage.id == "replace"


def test_healthy_mouth_has_only_maintenance_with_reviews_and_a_yearly_recall() -> None:
    chart = chart_of([("implant", "36"), ("root_canal", "11"), ("root_canal", "21"), ("filling", "26")])
    plan = build_plan(chart, load_rules(), visit_date=DAY)
    assert [s.rule.id for s in plan.stages] == ["maintain"]
    assert [step.treatment for step in plan.stages[0].steps] == ["checkup", "root_canal_review", "implant_review"]
    assert plan.stages[0].steps[1].teeth == ("11", "21")
    assert (plan.recall_months, plan.next_visit.date, plan.next_visit.precision) == (12, dt.date(2027, 3, 2), "month")


def test_clinic_recall_override_and_month_end_dates() -> None:
    plan = build_plan(chart_of([]), load_rules(), visit_date=dt.date(2026, 8, 31), recall_months=6)
    assert plan.next_visit.date == dt.date(2027, 2, 28)


def test_prices_complete_or_refused_and_totals_only_when_every_step_is_priced() -> None:
    prices = price_list_from_dict(
        {
            "currency": "cny",
            "items": {
                "filling": {"amount": 300, "includes": "anaesthesia, the filling and polishing"},
                "checkup": {"amount": "150.50", "includes": "examination and cleaning"},
            },
        },
        "clinic.yaml: prices",
    )
    chart = chart_of([("caries", "16"), ("caries", "26")])
    plan = build_plan(chart, load_rules(), visit_date=DAY, prices=prices)
    assert plan.currency == "CNY"
    assert plan.total == Decimal("750.50")
    assert plan.stages[0].subtotal == Decimal(600)
    unpriced = build_plan(chart_of([("fracture", "11")]), load_rules(), visit_date=DAY, prices=prices)
    assert unpriced.total is None
    with pytest.raises(PlanRulesError, match="includes"):
        price_list_from_dict({"currency": "CNY", "items": {"filling": {"amount": 300}}}, "prices")
    with pytest.raises(PlanRulesError, match="ISO 4217"):
        price_list_from_dict({"currency": "XYZ", "items": {}}, "prices")


def test_a_clinic_can_change_wording_timing_and_stage_per_language() -> None:
    data = yaml.safe_load(default_rules_text())
    data["findings"]["caries"]["step"]["stage"] = "urgent"
    data["findings"]["caries"]["step"]["why"] = {"en": "Our words.", "ru": "Наши слова."}
    data["stages"][0]["next_visit"] = {"weeks": 1}
    rules = rules_from_dict(data, "clinic-rules.yaml")
    plan = build_plan(chart_of([("caries", "16")]), rules, visit_date=DAY)
    assert plan.stages[0].rule.id == "urgent"
    assert plan.stages[0].steps[0].why == {"en": "Our words.", "ru": "Наши слова."}
    assert plan.next_visit.date == dt.date(2026, 3, 9)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda d: d["findings"]["caries"]["step"].update(stage="soon"), UnknownNameError, "valid treatment stages"),
        (lambda d: d["findings"].pop("bridge"), PlanRulesError, "missing bridge"),
        (lambda d: d["findings"]["caries"].update(colour="red"), PlanRulesError, "unknown key 'colour'"),
        (lambda d: d["recall"].pop(), PlanRulesError, "last row must have no 'if'"),
        (lambda d: d["stages"][0].update(next_visit={"days": 3}), PlanRulesError, "unknown key 'days'"),
        (lambda d: d["findings"]["missing"]["step"].update(skip=["wisdom"]), UnknownNameError, "third_molars"),
        (lambda d: d["findings"]["caries"].update(name={"ru": "кариес"}), PlanRulesError, "must include 'en'"),
    ],
)
def test_malformed_rules_name_the_entry(change, error, message) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(default_rules_text())
    change(data)
    with pytest.raises(error, match=message):
        rules_from_dict(data, "clinic-rules.yaml")


def test_rules_file_errors(tmp_path: Path) -> None:
    with pytest.raises(PlanRulesError, match="no such plan rules file"):
        load_rules(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages: [\n", encoding="utf-8")
    with pytest.raises(PlanRulesError, match="not valid YAML"):
        load_rules(bad)
