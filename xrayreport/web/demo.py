"""A demo workspace: invented patients over two years, with issued plans, consents and contacts, so that the
recall list and the patient pages can be seen and benchmarked without any real patient's data.

Every study of the demo points at one synthetic scan (an arch over noise, no real X-ray), so a workspace of
50,000 patients stays small. Names are drawn from a short list of invented given and family names.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import secrets

import cv2
import numpy as np
from sqlalchemy import insert
from sqlalchemy.orm import Session

from ..ingestion import load_scan
from ..recall import StepState
from .models import (
    CONTACT_CHANNELS,
    CONTACT_OUTCOMES,
    Contact,
    ContactConsent,
    Patient,
    PlanStepRecord,
    Study,
    StudyStatus,
    utc_now,
)
from .scans import ScanStore

GIVEN = (
    "Anna",
    "Boris",
    "Chen",
    "Dmitri",
    "Elena",
    "Fang",
    "Grace",
    "Hui",
    "Ivan",
    "Jia",
    "Kira",
    "Lei",
    "Maria",
    "Nikolai",
)
FAMILY = ("Ivanova", "Li", "Petrov", "Wang", "Smith", "Zhang", "Sokolova", "Liu", "Brown", "Chen", "Orlov", "Huang")
# (stage, stage number, treatment, wording, how many teeth) of the plans the demo issues
STEPS = (
    ("urgent", 1, "deep_filling", "A filling, or a root canal treatment if the nerve is affected", 1),
    ("restore", 2, "filling", "A filling", 1),
    ("replace", 3, "implant", "Replacing the missing tooth (implant, bridge or partial denture)", 1),
    ("maintain", 4, "checkup", "Check-up and professional cleaning", 0),
)
TEETH = ("16", "17", "26", "27", "36", "37", "46", "47", "14", "24", "34", "44")
STAGE_WEEKS = {"urgent": 2, "restore": 4, "replace": 8, "maintain": 26}


def demo_scan_png(seed: int = 0) -> bytes:
    """A panoramic-sized synthetic image: a bright arch over noise (1200 x 600 pixels)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(20, 90, size=(600, 1200), dtype=np.uint8)
    cv2.ellipse(pixels, (600, 200), (480, 300), 0, 20, 160, 230, 75)
    ok, encoded = cv2.imencode(".png", pixels)
    assert ok
    return encoded.tobytes()


def seed_demo(db: Session, scans: ScanStore, patients: int, today: dt.date, seed: int = 0) -> int:
    """Add ``patients`` invented patients, each with a scan in the last two years, its issued plan, steps in
    every state, a consent for most and a few contacts. Returns how many patients were added."""
    rng = random.Random(seed)
    data = demo_scan_png(seed)
    radiograph = load_scan(data, name="demo.png")
    scan_file, sha256 = scans.save(data, radiograph), radiograph.sha256
    first_id = (db.query(Patient.id).order_by(Patient.id.desc()).limit(1).scalar() or 0) + 1
    patient_rows, study_rows, step_rows, consent_rows, contact_rows = [], [], [], [], []
    for number in range(first_id, first_id + patients):
        born = today - dt.timedelta(days=rng.randint(6 * 365, 85 * 365))
        patient_rows.append(
            {
                "id": number,
                "name": f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}",
                "external_id": f"DEMO-{number:06d}",
                "birth_date": born.isoformat(),
                "sex": rng.choice("FM"),
                "created_at": utc_now(),
            }
        )
        came = today - dt.timedelta(days=rng.randint(0, 730))
        study_id = secrets.token_hex(16)
        study_rows.append(_study_row(study_id, number, scan_file, sha256, came))
        for stage, stage_number, treatment, what, teeth in _plan(rng):
            due = came + dt.timedelta(weeks=STAGE_WEEKS[stage])
            state, on = _state(rng, came, due, today)
            step_rows.append(
                {
                    "patient_id": number,
                    "study_id": study_id,
                    "stage": stage,
                    "stage_number": stage_number,
                    "treatment": treatment,
                    "what": json.dumps(what),
                    "teeth": ",".join(rng.sample(TEETH, teeth)),
                    "due_by": due.isoformat(),
                    "state": state,
                    "state_on": on.isoformat() if on else None,
                    "reason": "demo" if state in (StepState.DECLINED, StepState.NOT_NEEDED) else None,
                    "changed_by": "demo",
                    "changed_at": utc_now(),
                }
            )
        if rng.random() < 0.7:
            consent_rows.append(
                {
                    "patient_id": number,
                    "channel": rng.choice(CONTACT_CHANNELS),
                    "time_window": rng.choice(("mornings", "after 6 pm", "weekends", "")),
                    "recorded_on": came.isoformat(),
                    "recorded_by": "demo",
                }
            )
        if rng.random() < 0.2:
            channel = rng.choice(CONTACT_CHANNELS)
            # A call is answered or not; a message or letter may also just have been sent.
            outcomes = [o for o in CONTACT_OUTCOMES if o != "sent" or channel != "phone"]
            contact_rows.append(
                {
                    "patient_id": number,
                    "contacted_on": (today - dt.timedelta(days=rng.randint(0, 60))).isoformat(),
                    "channel": channel,
                    "outcome": rng.choice(outcomes),
                    "by": "demo",
                }
            )
    for table, rows in (
        (Patient, patient_rows),
        (Study, study_rows),
        (PlanStepRecord, step_rows),
        (ContactConsent, consent_rows),
        (Contact, contact_rows),
    ):
        if rows:
            db.execute(insert(table), rows)
    return patients


def _plan(rng: random.Random) -> list[tuple[str, int, str, str, int]]:
    """One to four treatment steps (urgent care in a third of plans), and the check-up."""
    chosen = []
    if rng.random() < 0.33:
        chosen.append(STEPS[0])
    chosen += [STEPS[1]] * rng.randint(0, 3)
    if rng.random() < 0.15:
        chosen.append(STEPS[2])
    return [*chosen, STEPS[3]]


def _state(rng: random.Random, came: dt.date, due: dt.date, today: dt.date) -> tuple[StepState, dt.date | None]:
    roll = rng.random()
    if roll < 0.45 and due <= today:
        return StepState.DONE, min(due, today)
    if roll < 0.6:
        return StepState.BOOKED, came + dt.timedelta(days=rng.randint(7, 120))
    if roll < 0.65:
        return StepState.DECLINED, None
    return StepState.PLANNED, None


def _study_row(study_id: str, patient: int, scan_file: str, sha256: str, came: dt.date) -> dict[str, object]:
    created = dt.datetime.combine(came, dt.time(10), tzinfo=dt.UTC)
    return {
        "id": study_id,
        "patient_id": patient,
        "scan_file": scan_file,
        "source_name": "demo.png",
        "file_format": "PNG",
        "width": 1200,
        "height": 600,
        "sha256": sha256,
        "study_date": came.isoformat(),
        "status": StudyStatus.UNAVAILABLE,
        "status_message": "a demo scan: no analysis ran",
        "interrupted_runs": 0,
        "accepted_ids": "[]",
        "created_by": "demo",
        "created_at": created,
        "issued_by": "demo",
        "issued_at": created,
    }
