"""Issuing a report and tracking its plan in the workspace: the steps of :mod:`xrayreport.recall`, stored
per patient (:class:`PlanStepRecord`), each change audited on the patient."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..errors import XrayReportError
from ..findings import Findings
from ..recall import (
    OPEN_STATES,
    OpenStepTeeth,
    StepChange,
    StepState,
    TrackedStep,
    check_change,
    propose,
    steps_to_track,
)
from .models import PlanStepRecord, Study, utc_now
from .standings import forget_standing, wording_of
from .studies import NotFoundError, pending_ids, record_audit, report_document
from .workspace import Workspace


class FindingsPendingError(XrayReportError):
    """A report cannot be issued while model findings wait for review (answered with 409)."""


def issue_report(workspace: Workspace, db: Session, study: Study, user: str) -> list[PlanStepRecord]:
    """Mark ``study``'s report issued by ``user`` and track its plan: the study's steps nobody has touched
    yet (still planned) are replaced by the plan's; a step this study's plan already had answered (booked,
    done, declined, not needed), or one an earlier plan of the patient still has open, is not planned twice.
    Open steps of earlier plans that this scan shows done get a proposal for a dentist to confirm. Returns
    the steps added."""
    if waiting := len(pending_ids(study)):
        raise FindingsPendingError(f"{waiting} finding(s) still wait for review; accept or reject them first")
    document = report_document(study)
    radiograph = workspace.scans.load(study.scan_file, study.source_name)
    now = workspace.config.clock()
    care = workspace.planner(radiograph, document, now.date())
    db.execute(
        delete(PlanStepRecord).where(PlanStepRecord.study_id == study.id, PlanStepRecord.state == StepState.PLANNED)
    )
    # Not planned twice: what this study's plan already had answered, and what earlier plans still have open.
    kept = {
        (r.treatment, r.teeth)
        for r in db.scalars(select(PlanStepRecord).where(PlanStepRecord.patient_id == study.patient_id))
        if r.study_id == study.id or r.state in OPEN_STATES
    }
    added = []
    for step in steps_to_track(care.plan, care.plan_start):
        record = _record(step, study, user)
        if (record.treatment, record.teeth) not in kept:
            db.add(record)
            added.append(record)
    study.issued_by, study.issued_at = user, now
    forget_standing(db, study.patient_id)
    _propose_from(db, study, document)
    record_audit(
        db,
        study.patient,
        user,
        "issue",
        f"report of the scan of {study.created_at:%Y-%m-%d}",
        None,
        {"study": study.id, "steps": len(added)},
    )
    return added


def _propose_from(db: Session, study: Study, document: Findings) -> None:
    """Mark the patient's open steps from earlier studies that this scan shows done, for a dentist to confirm."""
    earlier = [
        s
        for s in db.scalars(select(PlanStepRecord).where(PlanStepRecord.patient_id == study.patient_id))
        if s.study_id != study.id and s.state in OPEN_STATES
    ]
    scanned_on = study.visit_day.isoformat()
    by_id = {s.id: s for s in earlier}
    for proposal in propose((OpenStepTeeth(s.id, s.treatment, s.tooth_list) for s in earlier), document):
        step = by_id[proposal.step_id]
        step.proposal, step.proposal_note, step.proposal_on = proposal.state, proposal.reason, scanned_on


def _record(step: TrackedStep, study: Study, user: str) -> PlanStepRecord:
    return PlanStepRecord(
        patient_id=study.patient_id,
        study_id=study.id,
        stage=step.stage,
        stage_number=step.stage_number,
        treatment=step.treatment,
        what=json.dumps(step.what, ensure_ascii=False),
        teeth=",".join(step.teeth),
        due_by=step.due_by.isoformat(),
        state=StepState.PLANNED,
        changed_by=user,
        changed_at=utc_now(),
    )


def get_step(db: Session, step_id: int, lock: bool = False) -> PlanStepRecord:
    statement = select(PlanStepRecord).where(PlanStepRecord.id == step_id)
    step = db.scalar(statement.with_for_update() if lock else statement)
    if step is None:
        raise NotFoundError(f"no plan step {step_id}; the patient's plan lists its steps")
    return step


def change_step(db: Session, step: PlanStepRecord, change: StepChange, user: str, today: dt.date) -> None:
    """Apply ``change`` to ``step`` when :func:`xrayreport.recall.check_change` allows it; audited on the patient."""
    check_change(StepState(step.state), change, today)
    before = step_json(step)
    step.state = change.state
    step.state_on = change.on.isoformat() if change.on and change.state in (StepState.BOOKED, StepState.DONE) else None
    step.reason = (change.reason or "").strip() or None
    step.changed_by, step.changed_at = user, utc_now()
    step.proposal = step.proposal_note = step.proposal_on = None  # answered
    forget_standing(db, step.patient_id)
    record_audit(db, step.patient, user, change.state, f"plan step {step.id}", before, step_json(step))


def step_json(step: PlanStepRecord) -> dict[str, Any]:
    """A step as the API shows it (and the audit trail keeps it)."""
    return {
        "id": step.id,
        "study": step.study_id,
        "stage": step.stage,
        "stage_number": step.stage_number,
        "treatment": step.treatment,
        "what": step_wording(step),
        "teeth": list(step.tooth_list),
        "due_by": step.due_by,
        "state": step.state,
        "on": step.state_on,
        "reason": step.reason,
        "proposal": None
        if step.proposal is None
        else {"state": step.proposal, "on": step.proposal_on, "because": step.proposal_note},
    }


def step_wording(step: PlanStepRecord, language: str = "en") -> str:
    """The step's wording: a catalogue message (English), or the clinic's text in ``language`` (else its first)."""
    return wording_of(step.what, language)
