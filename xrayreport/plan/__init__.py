"""The staged, prevention-oriented treatment plan, driven by a rules table a clinic can adjust."""

from .plan import NextVisit, Plan, PlanStage, PlanStep, build_plan, date_after
from .prices import Price, PriceList, price_list_from_dict
from .rules import (
    FindingRule,
    Offset,
    PlanRules,
    PlanRulesError,
    RecallRule,
    StageRule,
    StepRule,
    Text,
    default_rules_text,
    load_rules,
    rules_from_dict,
)

__all__ = [
    "FindingRule",
    "NextVisit",
    "Offset",
    "Plan",
    "PlanRules",
    "PlanRulesError",
    "PlanStage",
    "PlanStep",
    "Price",
    "PriceList",
    "RecallRule",
    "StageRule",
    "StepRule",
    "Text",
    "build_plan",
    "date_after",
    "default_rules_text",
    "load_rules",
    "price_list_from_dict",
    "rules_from_dict",
]
