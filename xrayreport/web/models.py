"""The database tables: users, patients, studies (one uploaded scan each), the audit trail of reviews
and of patient details, the failed logins the login throttle counts, and the login sessions (page sessions
and API tokens) that can be ended.

Findings documents are stored as validated JSON text: the model's output as it came, and the
dentist's reviewed version beside it, so nothing the model said is ever overwritten.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ..findings import Findings, findings_from_dict
from ..mail import ADDRESS_LENGTH
from .roles import Permission, Role, parse_roles, permissions_of

NAME_LENGTH = 200
EXTERNAL_ID_LENGTH = 64


def utc_now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class StudyStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    UNAVAILABLE = "unavailable"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    roles_text: Mapped[str] = mapped_column("roles", String(64))  # comma-separated Role values, e.g. "admin,dentist"
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)

    @property
    def roles(self) -> tuple[Role, ...]:
        return parse_roles(self.roles_text.split(",")) if self.roles_text else ()

    @roles.setter
    def roles(self, roles: tuple[Role, ...]) -> None:
        self.roles_text = ",".join(parse_roles(roles))

    def may(self, permission: Permission) -> bool:
        return permission in permissions_of(self.roles)


class Family(Base):
    """A household whose members share one dentist: each keeps their own report and plan; the family page and
    letter put their next steps together."""

    __tablename__ = "families"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))

    members: Mapped[list[Patient]] = relationship(back_populates="family", order_by="Patient.id")


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    external_id: Mapped[str | None] = mapped_column(String(EXTERNAL_ID_LENGTH), index=True)  # the clinic's patient ID
    birth_date: Mapped[str | None] = mapped_column(String(10))  # ISO 8601, YYYY-MM-DD
    sex: Mapped[str | None] = mapped_column(String(1))
    language: Mapped[str | None] = mapped_column(String(8))  # a report language code (en, zh, ru); None: not chosen
    email: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH))
    family_id: Mapped[int | None] = mapped_column(ForeignKey("families.id"), index=True)  # the household, if linked
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)

    family: Mapped[Family | None] = relationship(back_populates="members")
    studies: Mapped[list[Study]] = relationship(back_populates="patient", order_by="Study.created_at.desc()")
    audit: Mapped[list[AuditEntry]] = relationship(back_populates="patient", order_by="AuditEntry.id.desc()")
    consents: Mapped[list[ContactConsent]] = relationship(back_populates="patient", order_by="ContactConsent.id.desc()")
    contacts: Mapped[list[Contact]] = relationship(back_populates="patient", order_by="Contact.id.desc()")
    visits: Mapped[list[Visit]] = relationship(back_populates="patient", order_by="Visit.visited_on.desc()")
    plan_steps: Mapped[list[PlanStepRecord]] = relationship(
        back_populates="patient", order_by="(PlanStepRecord.due_by, PlanStepRecord.stage_number, PlanStepRecord.id)"
    )

    @property
    def visit_days(self) -> list[date]:
        """The days the patient came: every scan taken (its study date, else its upload day) and recorded visit."""
        return [s.visit_day for s in self.studies] + [date.fromisoformat(v.visited_on) for v in self.visits]

    @property
    def consent(self) -> ContactConsent | None:
        """The patient's standing agreement to be contacted for recalls, if any."""
        return next((c for c in self.consents if c.withdrawn_on is None), None)

    @property
    def label(self) -> str:
        """How pages name the patient: name, else ID, else the database number."""
        return self.name or (f"ID {self.external_id}" if self.external_id else f"patient #{self.id}")


class Study(Base):
    """One uploaded scan, its analysis state and its findings (model and reviewed)."""

    __tablename__ = "studies"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random hex, safe to show in URLs and logs
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    scan_file: Mapped[str] = mapped_column(String(64))  # random name under $XRAYREPORT_HOME/scans
    source_name: Mapped[str] = mapped_column(String(255))  # the uploaded file's name (may hold PHI: never log)
    file_format: Mapped[str] = mapped_column(String(8))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    study_date: Mapped[str | None] = mapped_column(String(10))
    modality: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    status_message: Mapped[str | None] = mapped_column(Text)
    interrupted_runs: Mapped[int] = mapped_column(Integer, default=0)
    # While an analysis worker process analyses it (xrayreport.web.worker): the worker's id and when its lease ends
    # unless the worker renews it; both None otherwise (queued, finished, or analysed inside the web server).
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    model_findings: Mapped[str | None] = mapped_column(Text)
    reviewed_findings: Mapped[str | None] = mapped_column(Text)
    accepted_ids: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of model finding ids confirmed
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now, index=True)
    analysed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    issued_by: Mapped[str | None] = mapped_column(String(64))  # the dentist who last issued its report
    issued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Kept out of the clinic's training exports and model comparisons (xrayreport.web.clinicdata); audited.
    training_excluded: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Who looked at the scan's pixels and found no burned-in text (name, date), and when (None: nobody has): the
    # de-identified exports then hold its pixels whatever its DICOM header says (xrayreport.web.burnedin); audited.
    burned_in_checked_by: Mapped[str | None] = mapped_column(String(64))
    burned_in_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    patient: Mapped[Patient] = relationship(back_populates="studies")
    audit: Mapped[list[AuditEntry]] = relationship(back_populates="study", order_by="AuditEntry.id.desc()")

    @property
    def visit_day(self) -> date:
        """The day the patient came for this scan: its study date, else the day it was uploaded."""
        return date.fromisoformat(self.study_date) if self.study_date else self.created_at.date()

    def model_document(self) -> Findings | None:
        return None if self.model_findings is None else findings_from_dict(json.loads(self.model_findings))

    def reviewed_document(self) -> Findings | None:
        return None if self.reviewed_findings is None else findings_from_dict(json.loads(self.reviewed_findings))

    def accepted(self) -> set[str]:
        return set(json.loads(self.accepted_ids))


class AuditEntry(Base):
    """One change a dentist made to a study's findings or to a patient's details (exactly one of the two):
    who, when, what, before and after."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        CheckConstraint("(study_id IS NULL) <> (patient_id IS NULL)", name="ck_audit_entries_study_or_patient"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[str | None] = mapped_column(ForeignKey("studies.id"), index=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    username: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    action: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(64))  # e.g. "finding f3", "tooth 36", "patient details"
    before: Mapped[str | None] = mapped_column(Text)  # compact JSON of the item before, null when added
    after: Mapped[str | None] = mapped_column(Text)  # compact JSON of the item after, null when removed

    study: Mapped[Study | None] = relationship(back_populates="audit")
    patient: Mapped[Patient | None] = relationship(back_populates="audit")


class LoginFailure(Base):
    """One failed login, recorded once under its user name and once under its client address (see throttle.py)."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), index=True)  # keyed hash of "user" or "address" and the value
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class LoginSession(Base):
    """A page session or an API token: the client holds a random secret, the database only its SHA-256.

    It ends at ``expires_at`` however much it is used, and at once when deleted (log out, token revoked,
    ``xrayreport users revoke``).
    """

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # "page" or "api"
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)

    user: Mapped[User] = relationship()


class PlanStepRecord(Base):
    """One step of a patient's issued plan, tracked until done, declined or no longer needed
    (:mod:`xrayreport.recall`). Issuing a study's report again replaces its steps that are still planned."""

    __tablename__ = "plan_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    study_id: Mapped[str] = mapped_column(ForeignKey("studies.id"), index=True)  # the study whose report planned it
    stage: Mapped[str] = mapped_column(String(32))  # the plan rules' stage id, e.g. "restore"
    stage_number: Mapped[int] = mapped_column(Integer)
    treatment: Mapped[str] = mapped_column(String(64))  # price-list key, e.g. "filling"
    what: Mapped[str] = mapped_column(Text)  # JSON: the plan's wording (a catalogue message or texts by language)
    teeth: Mapped[str] = mapped_column(String(200))  # FDI numbers, comma-separated; empty for the whole mouth
    due_by: Mapped[str] = mapped_column(String(10), index=True)  # YYYY-MM-DD
    state: Mapped[str] = mapped_column(String(16), index=True)  # xrayreport.recall.StepState
    state_on: Mapped[str | None] = mapped_column(String(10))  # booked for, or done on (YYYY-MM-DD)
    reason: Mapped[str | None] = mapped_column(Text)  # why declined or no longer needed
    proposal: Mapped[str | None] = mapped_column(String(16))  # a state a later scan suggests, for a dentist to confirm
    proposal_note: Mapped[str | None] = mapped_column(Text)  # what that scan shows
    proposal_on: Mapped[str | None] = mapped_column(String(10))  # the day of that scan
    changed_by: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)

    patient: Mapped[Patient] = relationship(back_populates="plan_steps")

    @property
    def tooth_list(self) -> tuple[str, ...]:
        return tuple(t for t in self.teeth.split(",") if t)


CONTACT_CHANNELS = ("phone", "sms", "email", "letter")


class ContactConsent(Base):
    """A patient's agreement to be contacted for recalls: by which channel, at what time, recorded when and
    by whom; withdrawn when and by whom. Recording a new one withdraws the one before."""

    __tablename__ = "contact_consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # one of CONTACT_CHANNELS
    time_window: Mapped[str] = mapped_column(String(100))  # e.g. "weekday mornings"
    recorded_on: Mapped[str] = mapped_column(String(10))
    recorded_by: Mapped[str] = mapped_column(String(64))
    withdrawn_on: Mapped[str | None] = mapped_column(String(10))
    withdrawn_by: Mapped[str | None] = mapped_column(String(64))

    patient: Mapped[Patient] = relationship(back_populates="consents")

    @property
    def summary(self) -> str:
        return consent_summary(self.channel, self.time_window)


def consent_summary(channel: str, time_window: str) -> str:
    """How a consent reads on the recall list: "sms, after 6 pm"."""
    return f"{channel}, {time_window}" if time_window else channel


CONTACT_OUTCOMES = ("booked", "call back", "declined", "unreachable", "sent")
"""What came of a contact; "sent": a message or letter went out (a recall e-mail records it itself)."""


class Contact(Base):
    """One recall contact: who reached (or tried to reach) the patient, when, how, and what came of it."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    contacted_on: Mapped[str] = mapped_column(String(10), index=True)  # YYYY-MM-DD
    channel: Mapped[str] = mapped_column(String(16))  # one of CONTACT_CHANNELS
    outcome: Mapped[str] = mapped_column(String(16))  # one of CONTACT_OUTCOMES
    by: Mapped[str] = mapped_column(String(64))

    patient: Mapped[Patient] = relationship(back_populates="contacts")


class Visit(Base):
    """A day the patient came, recorded by hand or imported from the practice-management system's appointments."""

    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    visited_on: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD
    source: Mapped[str] = mapped_column(String(16))  # "page", "api" or "import"
    recorded_by: Mapped[str] = mapped_column(String(64))

    patient: Mapped[Patient] = relationship(back_populates="visits")


class PatientStanding(Base):
    """A patient's recall standing as last computed (:mod:`xrayreport.web.standings`); no row: to be computed.
    The columns are null for a patient who never came."""

    __tablename__ = "patient_standings"

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), primary_key=True)
    category: Mapped[str | None] = mapped_column(String(64))  # xrayreport.recall.Category value
    last_visit: Mapped[str | None] = mapped_column(String(10))
    asleep_from: Mapped[str | None] = mapped_column(String(10), index=True)
    booked_until: Mapped[str | None] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(Text)


class DetectionModel(Base):
    """A detection model an admin installed (its ONNX files and JSON under ``$XRAYREPORT_HOME/models/<folder>/``):
    what it reports, whether analysis uses it, and its comparison with the model in use on the clinic's held-back
    reviewed studies (:mod:`xrayreport.web.modelstore`). None active: the server's default model analyses."""

    __tablename__ = "detection_models"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_detection_models_name_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(32))
    folder: Mapped[str] = mapped_column(String(64))  # random name under $XRAYREPORT_HOME/models
    detector_file: Mapped[str] = mapped_column(String(100))
    reports: Mapped[str] = mapped_column(Text)  # JSON list of the training classes it reports
    installed_by: Mapped[str] = mapped_column(String(64))
    installed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    active: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    comparison_state: Mapped[str | None] = mapped_column(String(16))  # queued, running, done, failed
    comparison_progress: Mapped[str | None] = mapped_column(String(100))
    comparison: Mapped[str | None] = mapped_column(Text)  # JSON: the figures, the verdict, what it ran on

    events: Mapped[list[ModelEvent]] = relationship(back_populates="model", order_by="ModelEvent.id.desc()")


class ModelEvent(Base):
    """What an admin did with a model (install, compare, activate, deactivate): who, when, and a line of detail."""

    __tablename__ = "model_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("detection_models.id"), index=True)
    username: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)

    model: Mapped[DetectionModel] = relationship(back_populates="events")
