"""The plan rules table (``rules.yaml``): stages, one rule per finding type, recall and wording.

The shipped table follows ../shared/CLINICAL.md; a clinic passes its own copy to change steps,
stages, timings or wording. Loading checks the whole table and names the offending entry, so a typo
in a clinic's file fails at start-up with a message, not halfway through a report.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..errors import UnknownNameError, XrayReportError
from ..findings import FINDING_TYPES

Text = str | Mapping[str, str]
"""Wording: an English message id (translated by the catalogues) or the clinic's own text per language."""

SKIP_CASES = ("third_molars", "primary_teeth")
RECALL_CONDITIONS = ("active_caries_at_least", "problems_at_least")


class PlanRulesError(XrayReportError):
    """A plan rules file is malformed; the message names the entry."""


@dataclass(frozen=True)
class Offset:
    """A span of time after the X-ray: whole weeks (gives a date) or months (gives a month)."""

    weeks: int = 0
    months: int = 0


@dataclass(frozen=True)
class StageRule:
    id: str
    title: Text
    purpose: Text
    when: Text
    next_visit: Offset | None


@dataclass(frozen=True)
class StepRule:
    """How an untreated finding becomes a step: in which stage, what is done and why."""

    stage: str
    treatment: str  # price-list key
    what: Text
    why: Text
    duration: Text | None = None
    group: bool = False
    skip: frozenset[str] = frozenset()


@dataclass(frozen=True)
class FindingRule:
    type: str
    name: Text
    explain: Text
    step: StepRule | None
    maintain: StepRule | None


@dataclass(frozen=True)
class RecallRule:
    risk: str
    months: int
    active_caries_at_least: int | None = None
    problems_at_least: int | None = None

    def matches(self, active_caries: int, problems: int) -> bool:
        """True when every condition of this row holds (a row without conditions always matches)."""
        if self.active_caries_at_least is not None and active_caries < self.active_caries_at_least:
            return False
        return self.problems_at_least is None or problems >= self.problems_at_least


@dataclass(frozen=True)
class PlanRules:
    stages: tuple[StageRule, ...]
    findings: Mapping[str, FindingRule]
    maintenance: tuple[StepRule, ...]
    recall: tuple[RecallRule, ...]
    bring: tuple[Text, ...]

    def stage(self, stage_id: str) -> StageRule:
        for stage in self.stages:
            if stage.id == stage_id:
                return stage
        raise UnknownNameError("plan stage", stage_id, [s.id for s in self.stages])

    @property
    def maintenance_stage(self) -> StageRule:
        return self.stages[-1]


def default_rules_text() -> str:
    """The shipped table, as YAML text (a starting point for a clinic's own copy)."""
    return resources.files(__package__).joinpath("rules.yaml").read_text(encoding="utf-8")


def load_rules(path: str | os.PathLike[str] | None = None) -> PlanRules:
    """Read and check a rules table; ``None`` reads the shipped ``rules.yaml``."""
    if path is None:
        return rules_from_dict(yaml.safe_load(default_rules_text()), "rules.yaml")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanRulesError(f"{path}: no such plan rules file; check the path") from None
    except UnicodeDecodeError:
        raise PlanRulesError(f"{path}: not a UTF-8 text file; plan rules are YAML") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PlanRulesError(f"{path}: not valid YAML ({exc}); fix the file") from None
    return rules_from_dict(data, str(path))


def rules_from_dict(data: Any, origin: str) -> PlanRules:
    """Build :class:`PlanRules` from parsed YAML, raising :class:`PlanRulesError` at the first bad entry."""
    top = _mapping(data, origin, required=("version", "stages", "findings", "maintenance", "recall", "bring"))
    if top["version"] != 1:
        raise PlanRulesError(f"{origin}: version {top['version']!r} is not supported; this xrayreport reads version 1")
    stages = tuple(
        _stage(item, f"{origin}: stages[{i}]") for i, item in enumerate(_list(top["stages"], origin, "stages"))
    )
    if len(stages) < 2:
        raise PlanRulesError(f"{origin}: stages: give at least one treatment stage and the maintenance stage (last)")
    stage_ids = [s.id for s in stages]
    if len(set(stage_ids)) != len(stage_ids):
        raise PlanRulesError(f"{origin}: stages: stage ids must be unique, got {stage_ids}")

    findings_data = _mapping(top["findings"], f"{origin}: findings", required=FINDING_TYPES)
    findings: dict[str, FindingRule] = {}
    for name, item in findings_data.items():
        where = f"{origin}: findings.{name}"
        entry = _mapping(item, where, required=("name", "explain"), optional=("step", "maintain"))
        step = None if "step" not in entry else _step(entry["step"], f"{where}.step", stage_ids[:-1], with_stage=True)
        maintain = None if "maintain" not in entry else _step(entry["maintain"], f"{where}.maintain", (), False)
        findings[name] = FindingRule(
            name,
            parse_text(entry["name"], f"{where}.name"),
            parse_text(entry["explain"], f"{where}.explain"),
            step,
            maintain,
        )

    maintenance = tuple(
        _step(item, f"{origin}: maintenance[{i}]", (), with_stage=False)
        for i, item in enumerate(_list(top["maintenance"], origin, "maintenance"))
    )
    recall = tuple(
        _recall(item, f"{origin}: recall[{i}]") for i, item in enumerate(_list(top["recall"], origin, "recall"))
    )
    if not recall or recall[-1].active_caries_at_least is not None or recall[-1].problems_at_least is not None:
        raise PlanRulesError(f"{origin}: recall: the last row must have no 'if' so that every patient gets an interval")
    bring = tuple(
        parse_text(item, f"{origin}: bring[{i}]") for i, item in enumerate(_list(top["bring"], origin, "bring"))
    )
    return PlanRules(stages, findings, maintenance, recall, bring)


def _mapping(data: Any, where: str, required: tuple[str, ...] = (), optional: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise PlanRulesError(f"{where}: expected a mapping of keys to values, got {type(data).__name__}")
    missing = [key for key in required if key not in data]
    if missing:
        raise PlanRulesError(f"{where}: missing {', '.join(missing)}")
    if optional or required:
        unknown = sorted(set(map(str, data)) - set(required) - set(optional))
        if unknown:
            raise PlanRulesError(
                f"{where}: unknown key {unknown[0]!r}; valid keys are: {', '.join(sorted(required + optional))}"
            )
    return data


def _list(data: Any, origin: str, key: str) -> list[Any]:
    if not isinstance(data, list):
        raise PlanRulesError(f"{origin}: {key}: expected a list")
    return data


def parse_text(data: Any, where: str) -> Text:
    """Check one wording entry: a non-empty string, or ``{language: text}`` including ``en``."""
    if isinstance(data, str) and data.strip():
        return data
    if isinstance(data, dict) and data and all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        if "en" not in data:
            raise PlanRulesError(f"{where}: wording per language must include 'en' (the fallback)")
        return dict(data)
    raise PlanRulesError(f"{where}: expected a text, or a mapping of language code to text")


def _offset(data: Any, where: str) -> Offset:
    entry = _mapping(data, where, optional=("weeks", "months"))
    if len(entry) != 1 or not all(isinstance(v, int) and v > 0 for v in entry.values()):
        raise PlanRulesError(f"{where}: give one positive whole number of weeks or of months, e.g. {{weeks: 2}}")
    return Offset(weeks=entry.get("weeks", 0), months=entry.get("months", 0))


def _stage(data: Any, where: str) -> StageRule:
    entry = _mapping(data, where, required=("id", "title", "purpose", "when"), optional=("next_visit",))
    if not isinstance(entry["id"], str) or not entry["id"]:
        raise PlanRulesError(f"{where}.id: expected a short name such as 'urgent'")
    next_visit = _offset(entry["next_visit"], f"{where}.next_visit") if "next_visit" in entry else None
    return StageRule(
        entry["id"],
        parse_text(entry["title"], f"{where}.title"),
        parse_text(entry["purpose"], f"{where}.purpose"),
        parse_text(entry["when"], f"{where}.when"),
        next_visit,
    )


def _step(data: Any, where: str, stage_ids: tuple[str, ...] | list[str], with_stage: bool) -> StepRule:
    required = ("stage", "treatment", "what", "why") if with_stage else ("treatment", "what", "why")
    optional = ("duration", "group", "skip") if with_stage else ("duration",)
    entry = _mapping(data, where, required=required, optional=optional)
    stage = ""
    if with_stage:
        stage = str(entry["stage"])
        if stage not in stage_ids:
            raise UnknownNameError("treatment stage", stage, stage_ids)
    skip = entry.get("skip", [])
    if not isinstance(skip, list):
        raise PlanRulesError(f"{where}.skip: expected a list, e.g. [third_molars]")
    for case in skip:
        if case not in SKIP_CASES:
            raise UnknownNameError("skip case", str(case), SKIP_CASES)
    if not isinstance(entry["treatment"], str) or not entry["treatment"]:
        raise PlanRulesError(f"{where}.treatment: expected the name of a price-list entry, e.g. 'filling'")
    return StepRule(
        stage=stage,
        treatment=entry["treatment"],
        what=parse_text(entry["what"], f"{where}.what"),
        why=parse_text(entry["why"], f"{where}.why"),
        duration=parse_text(entry["duration"], f"{where}.duration") if "duration" in entry else None,
        group=bool(entry.get("group", False)),
        skip=frozenset(skip),
    )


def _recall(data: Any, where: str) -> RecallRule:
    entry = _mapping(data, where, required=("risk", "months"), optional=("if",))
    months = entry["months"]
    if not isinstance(months, int) or not 1 <= months <= 24:
        raise PlanRulesError(f"{where}.months: expected whole months from 1 to 24, got {months!r}")
    conditions = _mapping(entry.get("if", {}), f"{where}.if", optional=RECALL_CONDITIONS)
    for key, value in conditions.items():
        if not isinstance(value, int) or value < 0:
            raise PlanRulesError(f"{where}.if.{key}: expected a whole number, got {value!r}")
    return RecallRule(str(entry["risk"]), months, **conditions)
