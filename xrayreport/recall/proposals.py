"""What a later reviewed scan says about steps still open: a carious tooth that now holds a filling was probably
filled ("done?"), a residual root no longer there was removed. The dentist confirms each proposal; nothing
changes by itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..findings import Findings

RESTORED = frozenset({"restoration", "filling", "crown"})
ROOT_FILLED = frozenset({"root_canal"})
REPLACED = frozenset({"implant", "bridge"})
# Treatment (price-list key) -> finding types on every one of its teeth that show it was done.
EVIDENCE: dict[str, frozenset[str]] = {
    "filling": RESTORED | ROOT_FILLED,
    "deep_filling": RESTORED | ROOT_FILLED,
    "root_canal": ROOT_FILLED,
}


@dataclass(frozen=True)
class OpenStepTeeth:
    """An open step as the proposal needs it: its id, treatment and teeth (FDI)."""

    step_id: int
    treatment: str
    teeth: tuple[str, ...]


@dataclass(frozen=True)
class Proposal:
    step_id: int
    state: str  # "done"
    reason: str  # what the scan shows, e.g. "filling on 36"


def propose(steps: Iterable[OpenStepTeeth], later: Findings) -> list[Proposal]:
    """Proposals for ``steps`` from the ``later`` reviewed findings of the same patient."""
    by_tooth: dict[str, set[str]] = {}
    for finding in later.findings:
        if finding.tooth:
            by_tooth.setdefault(finding.tooth, set()).add(finding.type)
    missing = {f.tooth for f in later.findings if f.type == "missing" and f.tooth}
    present = ({tooth.fdi for tooth in later.teeth} | set(by_tooth)) - missing
    proposals = []
    for step in steps:
        if not step.teeth:
            continue
        if step.treatment == "extraction" and not any(t in present for t in step.teeth):
            proposals.append(Proposal(step.step_id, "done", f"no tooth {', '.join(step.teeth)}"))
            continue
        if step.treatment == "replacement_consultation" and all(by_tooth.get(t, set()) & REPLACED for t in step.teeth):
            proposals.append(Proposal(step.step_id, "done", f"{', '.join(step.teeth)} replaced"))
            continue
        evidence = EVIDENCE.get(step.treatment)
        if evidence and all(by_tooth.get(t, set()) & evidence for t in step.teeth):
            kinds = sorted(set().union(*(by_tooth[t] & evidence for t in step.teeth)))
            shown = " and ".join(k.replace("_", " ") for k in kinds)
            proposals.append(Proposal(step.step_id, "done", f"{shown} on {', '.join(step.teeth)}"))
    return proposals
