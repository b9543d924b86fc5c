"""A dentist's mark that a study's scan shows no burned-in text (the patient's name, the date, the clinic): the
research and training exports hold a scan's pixels (and the overlay drawn on them) only when its DICOM header says
Burned In Annotation NO, or once a dentist has looked and marked it so (the rule of
:func:`xrayreport.export.burnedin.pixels_withheld`; docs/exports.md). Setting and clearing the mark are audited; the
DICOM exports read it through :attr:`~.dicomresults.ReviewedStudy.pixels_checked`, the others through
:func:`~.exports.scan_pixels_withheld`; ``GET /api/studies/{id}`` shows it (:func:`burned_in_mark`).

A clinic whose scans come as image files has every scan held back until marked, so dentists also mark many at once:
the page ``/burned-in-checks`` and ``GET``/``POST /api/burned-in-checks`` list the reviewed studies held back
(:func:`~.exports.held_back_studies`) a page at a time and mark the chosen ones in one transaction, one audit entry
per study, as the single mark does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from .exports import held_back_studies
from .models import Study, User, utc_now
from .pages import _check_csrf, _flash, _render
from .roles import Permission
from .scans import ScanStore
from .studies import NotFoundError, get_study, record_audit
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


# --- many studies at once ----------------------------------------------------------------------------------------

CHECKS_PER_PAGE = 24
"""Studies per page of the list: each shows its scan's preview (at most 1,600 pixels wide, 0.3 to 1 MiB of
PNG), and 24 fill two columns of twelve rows; the dentist looks at every one before marking, so a longer page only
means more scrolling."""
MAX_MARKED_AT_ONCE = 500
"""The most study ids one bulk mark takes (a few pages' worth); more is refused with 422, nothing marked."""
StudyId = Annotated[str, Field(min_length=1, max_length=64)]


class HeldBackStudyOut(BaseModel):
    """A reviewed study whose scan's pixels every research and training export leaves out until a dentist marks it."""

    id: str = Field(description="the study's id in this workspace (random hex)")
    patient: int = Field(description="the patient's number (`id` in /api/patients)")
    file_format: str = Field(description="DICOM, PNG, JPEG or TIFF: how the scan came")
    burned_in_annotation: str | None = Field(
        description="the scan's Burned In Annotation (0028,0301) as its DICOM header says it (`YES`, or another "
        'value than `NO`); `""`: the header lacks it; null: an image file, without a DICOM header'
    )
    study_date: str | None = Field(
        description="the study date (its DICOM header's, or given at upload), YYYY-MM-DD; null: none"
    )
    created_at: str | None = Field(description="when it was uploaded or received, ISO 8601 in UTC, to the second")
    reviewed_by: str | None = Field(description="the dentist who last saved its review")
    image: str = Field(description="where to fetch the scan as PNG (GET, 1,600 pixels wide at most) to look at it")


class HeldBackListOut(BaseModel):
    """One page of the reviewed studies held back for burned-in text, newest upload first."""

    total: int = Field(description="how many reviewed studies are held back, on all pages")
    page: int = Field(description="this page's number, from 1")
    per_page: int = Field(description="studies per page")
    studies: list[HeldBackStudyOut] = Field(description="this page's studies; empty past the last page")


class BulkCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    study_ids: list[StudyId] = Field(
        min_length=1,
        max_length=MAX_MARKED_AT_ONCE,
        description="the studies whose scans I have looked at and found free of burned-in text (name, date, clinic)",
    )


class MarkedStudyOut(BaseModel):
    id: str = Field(description="the study's id")
    checked_by: str = Field(description="who marked it: the first dentist to, when it was marked before")
    checked_at: str | None = Field(description="when it was marked, ISO 8601 in UTC, to the second")


class BulkCheckOut(BaseModel):
    marked: int = Field(description="how many of the studies this call marked (one audit entry each)")
    already_marked: int = Field(description="how many were marked before: they keep their first who and when")
    studies: list[MarkedStudyOut] = Field(description="every study asked for, in the order given, with its mark")


def held_back_slice(db: Session, scans: ScanStore, page: int) -> tuple[int, list[tuple[Study, str | None]]]:
    """How many reviewed studies are held back (:func:`~.exports.held_back_studies`), and page ``page`` (from 1) of
    them, :data:`CHECKS_PER_PAGE` a page, each with its scan's Burned In Annotation."""
    held = held_back_studies(db, scans)
    start = (page - 1) * CHECKS_PER_PAGE
    return len(held), held[start : start + CHECKS_PER_PAGE]


def mark_many(db: Session, study_ids: list[str], user: str) -> BulkCheckOut:
    """Mark every study of ``study_ids`` checked free of burned-in text by ``user``, each audited as
    :func:`set_burned_in_check` does, inside the caller's transaction. Any unknown id marks none: raises
    :class:`NotFoundError` saying how many of them are unknown (the caller's transaction is then rolled back)."""
    wanted = list(dict.fromkeys(study_ids))
    # Locked in id order, so that two dentists marking overlapping lists at once cannot deadlock.
    found = {
        study.id: study
        for study in db.scalars(select(Study).where(Study.id.in_(wanted)).order_by(Study.id).with_for_update())
    }
    unknown = len(wanted) - len(found)
    if unknown:
        raise NotFoundError(
            f"{unknown} of the {len(wanted)} studies asked for {'is' if unknown == 1 else 'are'} not in this "
            "workspace; none was marked"
        )
    marked = sum(set_burned_in_check(db, found[study_id], True, user) for study_id in wanted)
    return BulkCheckOut(
        marked=marked,
        already_marked=len(wanted) - marked,
        studies=[
            MarkedStudyOut(
                id=study_id,
                checked_by=found[study_id].burned_in_checked_by or user,
                checked_at=_utc_iso(found[study_id].burned_in_checked_at),
            )
            for study_id in wanted
        ],
    )


@api.get(
    "/burned-in-checks",
    summary="The reviewed studies whose images are held back for burned-in text, newest first (dentist)",
    description="Reviewed studies (no model finding left pending) that nobody has marked checked free of burned-in "
    "text and whose DICOM header does not say Burned In Annotation NO (image uploads have no header): the research "
    "and training exports leave their pixels out. "
    f"{CHECKS_PER_PAGE} a page; look at each scan (`image`) before marking it with POST.",
)
def get_held_back(
    workspace: WorkspaceDep, _user: Checker, page: Annotated[int, Query(ge=1, description="from 1")] = 1
) -> HeldBackListOut:
    with workspace.sessions() as db:
        total, held = held_back_slice(db, workspace.scans, page)
        studies = [
            HeldBackStudyOut(
                id=study.id,
                patient=study.patient_id,
                file_format=study.file_format,
                burned_in_annotation=annotation,
                study_date=study.study_date,
                created_at=_utc_iso(study.created_at),
                reviewed_by=study.reviewed_by,
                image=f"/api/studies/{study.id}/image.png",
            )
            for study, annotation in held
        ]
    return HeldBackListOut(total=total, page=page, per_page=CHECKS_PER_PAGE, studies=studies)


@api.post(
    "/burned-in-checks",
    summary="Mark many studies' scans checked free of burned-in text at once (dentist; audited)",
    description="All or none, in one transaction: one 'burned-in text check' audit entry per study marked; a study "
    "marked before keeps its first who and when. An unknown id answers 404 saying how many are unknown, and marks "
    "none.",
    responses={404: {"description": "some of the ids are not studies of this workspace; none was marked"}},
)
def post_bulk_check(workspace: WorkspaceDep, user: Checker, check: BulkCheck) -> BulkCheckOut:
    with workspace.sessions.begin() as db:
        return mark_many(db, check.study_ids, user.username)


@pages.get("/burned-in-checks")
def held_back_list_page(
    request: Request, workspace: WorkspaceDep, user: PageChecker, page: Annotated[int, Query(ge=1)] = 1
) -> HTMLResponse:
    with workspace.sessions() as db:
        total, held = held_back_slice(db, workspace.scans, page)
        # Rendered inside the session: the page names each study's patient.
        return _render(
            request,
            "burned_in.html",
            user=user,
            total=total,
            held=held,
            page=page,
            pages=max(1, -(-total // CHECKS_PER_PAGE)),
            per_page=CHECKS_PER_PAGE,
        )


@pages.post("/burned-in-checks")
def bulk_check_page(
    request: Request,
    workspace: WorkspaceDep,
    user: PageChecker,
    study_ids: Annotated[list[str], Form(max_length=MAX_MARKED_AT_ONCE)] = [],  # noqa: B006
    page: Annotated[int, Form(ge=1)] = 1,
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    _check_csrf(request, csrf)
    if not study_ids:
        _flash(request, "error", "Nothing marked: tick the scans you have looked at first.")
    else:
        with workspace.sessions.begin() as db:
            done = mark_many(db, study_ids, user.username)
        _flash(
            request,
            "ok",
            f"Marked {done.marked} {'study' if done.marked == 1 else 'studies'} checked: no burned-in text"
            + (f" ({done.already_marked} marked before)" if done.already_marked else "")
            + ". Research and training exports may now hold their images.",
        )
    return RedirectResponse(f"/burned-in-checks?page={page}", status_code=303)
