"""The clinic's reviewed studies as training data (:mod:`xrayreport.export.training`): which studies go in, what
each review covered, the ZIP download and the study's "keep out of training" switch.

A study goes in when a dentist finished reviewing it (a reviewed document, no model finding left waiting) and
nobody excluded it. A review **covers** the classes the model that analysed the study reports (found by the
name and version its findings document records among the workspace's models, :func:`.modelstore.known_reports`):
the dentist saw every proposal of those classes, confirmed, corrected or rejected each and added what it missed,
so on that scan an unmarked class is absent. A study of a model the workspace does not know (or reviewed by hand
without one) covers nothing: its findings still say what is there, never what is not.

An export that leaves the server (the ZIP download, ``xrayreport dataset export``) holds a study only when its
scan's pixels may go (:func:`.exports.scan_pixels_withheld`: the header says no burned-in text, or a dentist marked
it checked); the rest are listed in its manifest. A model comparison reads every study: its copy stays on the server.
"""

from __future__ import annotations

import datetime
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask
from starlette.responses import FileResponse, Response

from ..export import ExportedFinding, TrainingStudy, pseudonym, write_training_zip
from ..findings import Findings
from .exports import fully_reviewed, scan_pixels_withheld
from .models import Study
from .modelstore import known_reports
from .scans import ScanStore
from .studies import record_audit
from .workspace import Workspace

log = logging.getLogger(__name__)


def training_studies(db: Session, scans: ScanStore, secret: bytes, *, leaves_server: bool) -> list[TrainingStudy]:
    """Every reviewed study not excluded from training, oldest first (see the module docstring); ``leaves_server``:
    the export goes off this server, so each study says whether its pixels must be withheld."""
    reports = known_reports(db)
    chosen = []
    for study in fully_reviewed(db):
        reviewed = study.reviewed_document()
        if reviewed is None or study.training_excluded:
            continue
        proposed = study.model_document()
        model = proposed or reviewed
        chosen.append(
            TrainingStudy(
                study_key=pseudonym(secret, "study", study.id),
                patient_key=pseudonym(secret, "patient", str(study.patient_id)),
                width=study.width,
                height=study.height,
                model=(model.model.name, model.model.version),
                covered=reports.get((model.model.name, model.model.version), frozenset()),
                teeth=tuple((t.fdi, t.box) for t in reviewed.teeth),
                findings=_final(reviewed, proposed),
                rejected=_rejected(reviewed, proposed),
                pixels=_pixels_of(scans, study.scan_file),
                pixels_withheld=scan_pixels_withheld(scans, study) if leaves_server else None,
            )
        )
    return chosen


def _final(reviewed: Findings, proposed: Findings | None) -> tuple[ExportedFinding, ...]:
    """The reviewed findings with where each came from; a model finding whose type changed was relabelled."""
    proposed_types = {f.id: f.type for f in proposed.findings} if proposed else {}
    out = []
    for f in reviewed.findings:
        was = proposed_types.get(f.id)
        if f.source == "dentist" or was is None:
            out.append(ExportedFinding(f.type, f.tooth, f.box, "dentist"))
        elif was != f.type:
            out.append(ExportedFinding(f.type, f.tooth, f.box, "relabelled", was))
        else:
            out.append(ExportedFinding(f.type, f.tooth, f.box))
    return tuple(out)


def _rejected(reviewed: Findings, proposed: Findings | None) -> tuple[ExportedFinding, ...]:
    """The model's findings the review removed."""
    if proposed is None:
        return ()
    kept = {f.id for f in reviewed.findings}
    return tuple(ExportedFinding(f.type, f.tooth, f.box) for f in proposed.findings if f.id not in kept)


def _pixels_of(scans: ScanStore, scan_file: str) -> Callable[[], NDArray[np.uint8]]:
    return lambda: scans.load(scan_file).pixels


def workspace_training_studies(workspace: Workspace) -> list[TrainingStudy]:
    with workspace.sessions() as db:
        return training_studies(db, workspace.scans, workspace.config.secret_key().encode(), leaves_server=True)


def training_export_response(workspace: Workspace) -> Response:
    """The training export as a ZIP download, written to a temporary file first and deleted once sent."""
    handle = tempfile.NamedTemporaryFile(prefix="xrayreport-training-", suffix=".zip", delete=False)  # noqa: SIM115
    studies = workspace_training_studies(workspace)
    with handle:
        counts = write_training_zip(studies, handle)
    withheld = sum(study.pixels_withheld is not None for study in studies)
    log.info(
        "training export: %s; %d left out (pixels may show burned-in text)",
        ", ".join(f"{n} {split}" for split, n in counts.items()),
        withheld,
    )
    path = Path(handle.name)
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"xrayreport-training-{datetime.date.today().isoformat()}.zip",
        headers={"Cache-Control": "no-store", "X-Export-Studies": str(sum(counts.values()))},
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


def set_training_excluded(db: Session, study: Study, excluded: bool, user: str) -> bool:
    """Keep a study out of (or let it back into) training exports and comparisons; audited. ``False`` when
    nothing changed."""
    if study.training_excluded == excluded:
        return False
    record_audit(db, study, user, "edit", "training use", {"excluded": study.training_excluded}, {"excluded": excluded})
    study.training_excluded = excluded
    return True
