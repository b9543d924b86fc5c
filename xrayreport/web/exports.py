"""The researcher's de-identified export, wired to the workspace: which studies go in, and their keys."""

from __future__ import annotations

import datetime
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select
from starlette.background import BackgroundTask
from starlette.responses import FileResponse, Response

from ..export import ExportOptions, ExportStudy, pseudonym, write_export
from .models import Study
from .studies import pending_ids, report_document
from .workspace import Workspace

log = logging.getLogger(__name__)


def export_response(workspace: Workspace, options: ExportOptions) -> Response:
    """The export of every reviewed study (nothing left pending) as a ZIP download, written to a temporary
    file first (with images it can be large) and deleted once sent."""
    handle = tempfile.NamedTemporaryFile(prefix="xrayreport-export-", suffix=".zip", delete=False)  # noqa: SIM115
    with handle:
        count = write_export(_reviewed_studies(workspace), options, handle)
    log.info("de-identified export of %d studies (%s)", count, ", ".join(options.asked_for()) or "findings only")
    path = Path(handle.name)
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"xrayreport-export-{datetime.date.today().isoformat()}.zip",
        headers={"Cache-Control": "no-store", "X-Export-Studies": str(count)},
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


def _reviewed_studies(workspace: Workspace) -> list[ExportStudy]:
    secret = workspace.config.secret_key().encode()
    with workspace.sessions() as db:
        studies = db.scalars(select(Study).where(Study.reviewed_findings.is_not(None)).order_by(Study.created_at)).all()
        chosen = []
        for study in studies:
            if pending_ids(study):
                continue
            patient = study.patient
            chosen.append(
                ExportStudy(
                    study_key=pseudonym(secret, "study", study.id),
                    patient_key=pseudonym(secret, "patient", str(patient.id)),
                    findings=report_document(study),
                    age_years=_age_years(patient.birth_date, study.visit_day.isoformat()),
                    sex=patient.sex,
                    pixels=_pixels_of(workspace, study.scan_file),
                )
            )
    return chosen


def _pixels_of(workspace: Workspace, scan_file: str) -> Callable[[], NDArray[np.uint8]]:
    return lambda: workspace.scans.load(scan_file).pixels


def _age_years(birth_date: str | None, on: str) -> int | None:
    """Whole years between two YYYY-MM-DD dates, ``None`` when the birth date is unknown."""
    if not birth_date:
        return None
    born, day = datetime.date.fromisoformat(birth_date), datetime.date.fromisoformat(on)
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))
