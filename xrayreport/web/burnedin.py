"""A dentist's mark that a study's scan shows no burned-in text (the patient's name, the date, the clinic): the
research and training exports hold a scan's pixels (and the overlay drawn on them) only when its DICOM header says
Burned In Annotation NO, or once a dentist has looked and marked it so (the rule of
:func:`xrayreport.export.burnedin.pixels_withheld`; docs/exports.md). Setting and clearing the mark are audited; the
DICOM exports read it through :attr:`~.dicomresults.ReviewedStudy.pixels_checked`, the others through
:func:`~.exports.scan_pixels_withheld`; ``GET /api/studies/{id}`` shows it (:func:`burned_in_mark`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from .models import Study, User, utc_now
from .pages import _check_csrf, _flash
from .roles import Permission
from .studies import get_study, record_audit
from .workspace import WorkspaceDep, api_permission, page_permission

api = APIRouter(prefix="/api", tags=["api"])
pages = APIRouter(include_in_schema=False)

# Marking a scan releases its pixels to researchers: the reviewing dentist's call, as keeping it out of training is.
Checker = Annotated[User, api_permission(Permission.REVIEW)]
PageChecker = Annotated[User, page_permission(Permission.REVIEW)]


class BurnedInCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checked: bool = Field(
        description="true: I have looked at the scan and it shows no burned-in text (name, date, clinic); false: "
        "withdraw that mark"
    )


class BurnedInMarkOut(BaseModel):
    """Who marked a study's scan checked free of burned-in text, and when."""

    checked_by: str = Field(description="the dentist's user name")
    checked_at: str | None = Field(description="ISO 8601 in UTC, to the second")


def burned_in_mark(study: Study) -> BurnedInMarkOut | None:
    """The study's mark, ``None`` while nobody has marked its scan."""
    if study.burned_in_checked_by is None:
        return None
    return BurnedInMarkOut(checked_by=study.burned_in_checked_by, checked_at=_utc_iso(study.burned_in_checked_at))


def _utc_iso(at: datetime | None) -> str | None:
    # SQLite hands back the UTC times the workspace stored without their zone.
    return None if at is None else at.replace(tzinfo=at.tzinfo or UTC).isoformat(timespec="seconds")


def check_json(study: Study) -> dict[str, Any]:
    """The mark as the API answers it: ``checked``, ``checked_by`` (user name) and ``checked_at`` (ISO 8601, UTC)."""
    return {
        "checked": study.burned_in_checked_by is not None,
        "checked_by": study.burned_in_checked_by,
        "checked_at": _utc_iso(study.burned_in_checked_at),
    }


def set_burned_in_check(db: Session, study: Study, checked: bool, user: str) -> bool:
    """Mark the study's scan checked free of burned-in text by ``user`` now, or withdraw the mark; audited.
    ``False`` when nothing changed (marking again keeps the first who and when)."""
    if (study.burned_in_checked_by is not None) == checked:
        return False
    record_audit(db, study, user, "edit", "burned-in text check", {"checked": not checked}, {"checked": checked})
    study.burned_in_checked_by = user if checked else None
    study.burned_in_checked_at = utc_now() if checked else None
    return True


@api.put(
    "/studies/{study_id}/burned-in-check",
    summary="Mark the scan checked free of burned-in text, or withdraw the mark (dentist; audited)",
    description="Once marked, the de-identified DICOM exports hold the scan and its overlay with Burned In "
    "Annotation NO, and the researcher's ZIP and the training export its pixels as PNG, whatever the scan's header "
    "says; unmarked, only when the header says NO.",
)
def put_burned_in_check(workspace: WorkspaceDep, user: Checker, study_id: str, check: BurnedInCheck) -> dict[str, Any]:
    with workspace.sessions.begin() as db:
        study = get_study(db, study_id, lock=True)
        set_burned_in_check(db, study, check.checked, user.username)
        return check_json(study)


@pages.post("/studies/{study_id}/burned-in-check")
def burned_in_check_page(
    request: Request,
    workspace: WorkspaceDep,
    user: PageChecker,
    study_id: str,
    checked: Annotated[bool, Form()] = False,
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    _check_csrf(request, csrf)
    with workspace.sessions.begin() as db:
        set_burned_in_check(db, get_study(db, study_id, lock=True), checked, user.username)
    _flash(
        request,
        "ok",
        "Marked free of burned-in text: research and training exports may hold this scan."
        if checked
        else "Mark withdrawn: research and training exports leave this scan's images out unless its header says NO.",
    )
    return RedirectResponse(f"/studies/{study_id}", status_code=303)
