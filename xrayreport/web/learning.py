"""Learning from the clinic, on the API and the pages: the training export (researcher), keeping a study out of
training and analysing studies again (dentist), the workspace's models (admin) and the agreement figures (admin,
dentist). The work itself is in :mod:`.clinicdata`, :mod:`.modelstore` and :mod:`.agreement`."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from ..errors import XrayReportError
from .agreement import FORMULAS, OUTCOMES, clinic_agreement
from .clinicdata import set_training_excluded, training_export_response
from .models import DetectionModel, User
from .modelstore import (
    ModelInstallError,
    get_model,
    in_use_label,
    inbox_files,
    install_model,
    reanalyse,
)
from .pages import _check_csrf, _flash, _render
from .roles import Permission
from .scans import read_limited
from .studies import get_study
from .workspace import Workspace, WorkspaceDep, api_permission, page_permission

api = APIRouter(prefix="/api", tags=["api"])
pages = APIRouter(include_in_schema=False)

MAX_MODEL_FILES = 4  # a detector's ONNX and JSON, and its second stage's
ModelAdmin = Annotated[User, api_permission(Permission.MANAGE_MODELS)]
Exporter = Annotated[User, api_permission(Permission.EXPORT)]
Reviewer = Annotated[User, api_permission(Permission.REVIEW)]
FigureViewer = Annotated[User, api_permission(Permission.SEE_FIGURES)]
PageModelAdmin = Annotated[User, page_permission(Permission.MANAGE_MODELS)]
PageExporter = Annotated[User, page_permission(Permission.EXPORT)]
PageReviewer = Annotated[User, page_permission(Permission.REVIEW)]
PageFigureViewer = Annotated[User, page_permission(Permission.SEE_FIGURES)]


class TrainingUse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    excluded: bool = Field(description="true: keep the study out of training exports and model comparisons")


class Reanalysis(BaseModel):
    model_config = ConfigDict(extra="forbid")

    studies: list[str] = Field(min_length=1, max_length=1000, description="study ids to analyse again")


def model_json(model: DetectionModel) -> dict[str, Any]:
    return {
        "id": model.id,
        "name": model.name,
        "version": model.version,
        "reports": json.loads(model.reports),
        "active": model.active,
        "installed_by": model.installed_by,
        "installed_at": model.installed_at.isoformat(timespec="seconds"),
        "comparison": {
            "state": model.comparison_state,
            "progress": model.comparison_progress,
            "result": None if model.comparison is None else json.loads(model.comparison),
        },
        "events": [
            {"at": e.at.isoformat(timespec="seconds"), "user": e.username, "action": e.action, "detail": e.detail}
            for e in model.events
        ],
    }


def _models(workspace: Workspace) -> dict[str, Any]:
    with workspace.sessions() as db:
        models = db.scalars(select(DetectionModel).order_by(DetectionModel.installed_at.desc())).all()
        return {"in_use": in_use_label(db), "models": [model_json(m) for m in models]}


async def _install(workspace: Workspace, user: User, files: list[UploadFile], folder: str | None) -> dict[str, Any]:
    if bool(files) == bool(folder):
        raise ModelInstallError("give either the model's files or the name of its folder in models/inbox, not both")
    if len(files) > MAX_MODEL_FILES:
        raise ModelInstallError(
            f"at most {MAX_MODEL_FILES} files: the detector's .onnx and .json, and its second stage's"
        )
    limit = workspace.config.max_upload_bytes
    contents = (
        {(f.filename or "").rsplit("/", 1)[-1]: read_limited(f.file, limit) for f in files}
        if files
        else inbox_files(workspace.config.home, folder or "")
    )
    with workspace.sessions.begin() as db:
        return model_json(install_model(db, workspace.config.home, contents, user.username))


# --- API ---------------------------------------------------------------------------------------------------------


@api.get(
    "/exports/training.zip",
    summary="The clinic's reviewed studies as a training source (researcher)",
    description="A ZIP (format `xrayreport.training-export/1`, docs/learning.md): reviewed studies not excluded "
    "from training, each with keyed study and patient keys, its split (by patient), the classes its review "
    "covered, teeth, final findings, rejected model findings and its pixels as PNG (no metadata). Only studies whose "
    "scan's Burned In Annotation says NO or that a dentist marked checked free of burned-in text: the manifest's "
    "`left_out` lists the others and why. Never a name, patient ID, date, file name or note.",
    response_class=Response,
)
def training_export(workspace: WorkspaceDep, _user: Exporter) -> Response:
    return training_export_response(workspace)


@api.put("/studies/{study_id}/training", summary="Keep a study out of training, or let it back in (dentist; audited)")
def put_training_use(workspace: WorkspaceDep, user: Reviewer, study_id: str, use: TrainingUse) -> dict[str, bool]:
    with workspace.sessions.begin() as db:
        study = get_study(db, study_id, lock=True)
        set_training_excluded(db, study, use.excluded, user.username)
        return {"excluded": study.training_excluded}


@api.post(
    "/reanalysis",
    summary="Analyse studies again with the model in use (dentist); reviewed or running ones are left as they are",
)
def post_reanalysis(workspace: WorkspaceDep, user: Reviewer, request: Reanalysis) -> dict[str, list[str]]:
    if workspace.runner.analyser is None:
        raise XrayReportError("automatic analysis is not available on this server; nothing can be analysed again")
    with workspace.sessions.begin() as db:
        queued = reanalyse(db, workspace.runner, request.studies, user.username)
    for study_id in queued:
        workspace.runner.submit(study_id)
    return {"queued": queued, "left": [s for s in request.studies if s not in queued]}


@api.get("/models", summary="The model in use and every installed model, with its comparison (admin)")
def list_models(workspace: WorkspaceDep, _user: ModelAdmin) -> dict[str, Any]:
    return _models(workspace)


@api.post(
    "/models",
    status_code=201,
    summary="Install a candidate model (admin): its files, or a folder placed in $XRAYREPORT_HOME/models/inbox",
    description="Multipart `files`: the detector's .onnx and .json, and its second stage's when its JSON names one; or "
    "form `folder`: a folder name in models/inbox holding them. Validated by loading them with onnxruntime, "
    "reading the JSON and running the detector once; 422 saying what is wrong, 409 for a name and version "
    "installed already. Nothing analyses with it until it is activated.",
)
async def post_model(
    workspace: WorkspaceDep,
    user: ModelAdmin,
    files: Annotated[list[UploadFile], File(description="the model's .onnx and .json files")] = [],  # noqa: B006
    folder: Annotated[str | None, Form(max_length=64)] = None,
) -> dict[str, Any]:
    return await _install(workspace, user, files, folder)


@api.get("/models/{model_id}", summary="An installed model, its comparison and what admins did with it (admin)")
def get_model_api(workspace: WorkspaceDep, _user: ModelAdmin, model_id: int) -> dict[str, Any]:
    with workspace.sessions() as db:
        return model_json(get_model(db, model_id))


@api.post(
    "/models/{model_id}/comparison",
    status_code=202,
    summary="Compare the model with the one in use on the clinic's held-back reviewed studies, in the background",
)
def post_comparison(workspace: WorkspaceDep, user: ModelAdmin, model_id: int) -> dict[str, Any]:
    with workspace.sessions.begin() as db:
        model = get_model(db, model_id)
        workspace.models.start_comparison(db, model, user.username)
        return model_json(model)


@api.post(
    "/models/{model_id}/activate",
    summary="Analyse new scans with this model (admin; audited); analysed studies keep their findings",
)
def post_activate(workspace: WorkspaceDep, user: ModelAdmin, model_id: int) -> dict[str, Any]:
    with workspace.sessions.begin() as db:
        model = get_model(db, model_id)
        workspace.models.activate(db, model, user.username)
        return model_json(model)


@api.post(
    "/models/use-default",
    summary="Analyse new scans with the server's default (shipped) model again (admin; audited)",
    description="409 when analysis uses it already; analysed studies keep their findings.",
)
def post_use_default(workspace: WorkspaceDep, user: ModelAdmin) -> dict[str, Any]:
    with workspace.sessions.begin() as db:
        workspace.models.use_default(db, user.username)
    return _models(workspace)


@api.get("/agreement", summary="How the model does on this clinic's reviews, per finding type (admin, dentist)")
def agreement(workspace: WorkspaceDep, _user: FigureViewer) -> dict[str, object]:
    with workspace.sessions() as db:
        return clinic_agreement(db).as_json()


# --- pages -------------------------------------------------------------------------------------------------------


@pages.get("/exports/training.zip")
def training_export_page(workspace: WorkspaceDep, _user: PageExporter) -> Response:
    return training_export_response(workspace)


@pages.post("/studies/{study_id}/training")
def training_use_page(
    request: Request,
    workspace: WorkspaceDep,
    user: PageReviewer,
    study_id: str,
    excluded: Annotated[bool, Form()] = False,
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    _check_csrf(request, csrf)
    with workspace.sessions.begin() as db:
        set_training_excluded(db, get_study(db, study_id, lock=True), excluded, user.username)
    _flash(request, "ok", "Kept out of training." if excluded else "Used for training again.")
    return RedirectResponse(f"/studies/{study_id}", status_code=303)


@pages.post("/studies/{study_id}/reanalyse")
def reanalyse_page(
    request: Request,
    workspace: WorkspaceDep,
    user: PageReviewer,
    study_id: str,
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    _check_csrf(request, csrf)
    post_reanalysis(workspace, user, Reanalysis(studies=[study_id]))
    _flash(request, "ok", "Analysing again with the model in use (a reviewed study keeps its findings).")
    return RedirectResponse(f"/studies/{study_id}", status_code=303)


@pages.get("/admin/models")
def models_page(request: Request, workspace: WorkspaceDep, user: PageModelAdmin) -> HTMLResponse:
    listing = _models(workspace)
    running = any(m["comparison"]["state"] in ("queued", "running") for m in listing["models"])
    return _render(request, "models.html", user=user, running=running, **listing)


@pages.post("/admin/models")
async def models_install_page(
    request: Request,
    workspace: WorkspaceDep,
    user: PageModelAdmin,
    files: Annotated[list[UploadFile], File()] = [],  # noqa: B006
    folder: Annotated[str | None, Form(max_length=64)] = None,
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    _check_csrf(request, csrf)
    chosen = [f for f in files if f.filename]  # a form's empty file input still sends one nameless part
    try:
        installed = await _install(workspace, user, chosen, folder or None)
        _flash(request, "ok", f"Installed {installed['name']} {installed['version']}; compare it before activating.")
    except XrayReportError as exc:
        _flash(request, "error", str(exc))
    return RedirectResponse("/admin/models", status_code=303)


@pages.post("/admin/models/use-default")  # before /admin/models/{model_id}, which would take it for an id
def use_default_page(
    request: Request, workspace: WorkspaceDep, user: PageModelAdmin, csrf: Annotated[str | None, Form()] = None
) -> Response:
    _check_csrf(request, csrf)
    try:
        with workspace.sessions.begin() as db:
            workspace.models.use_default(db, user.username)
            done = f"New scans are analysed with {in_use_label(db)}."
        _flash(request, "ok", done)
    except XrayReportError as exc:
        _flash(request, "error", str(exc))
    return RedirectResponse("/admin/models", status_code=303)


@pages.post("/admin/models/{model_id}")
def model_action_page(
    request: Request,
    workspace: WorkspaceDep,
    user: PageModelAdmin,
    model_id: int,
    action: Annotated[str, Form()],
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    _check_csrf(request, csrf)
    try:
        with workspace.sessions.begin() as db:
            model = get_model(db, model_id)
            if action == "compare":
                workspace.models.start_comparison(db, model, user.username)
                done = f"Comparing {model.name} {model.version} in the background."
            elif action == "activate":
                workspace.models.activate(db, model, user.username)
                done = f"New scans are analysed with {model.name} {model.version}."
            else:
                raise XrayReportError(f"model action {action!r} is unknown; use compare or activate")
        _flash(request, "ok", done)
    except XrayReportError as exc:
        _flash(request, "error", str(exc))
    return RedirectResponse("/admin/models", status_code=303)


@pages.get("/agreement")
def agreement_page(request: Request, workspace: WorkspaceDep, user: PageFigureViewer) -> HTMLResponse:
    with workspace.sessions() as db:
        figures = clinic_agreement(db)
    return _render(request, "agreement.html", user=user, figures=figures, outcomes=OUTCOMES, formulas=FORMULAS)
