"""The workspace's detection models: install a candidate, compare it with the model in use on the clinic's
held-back reviewed studies, make it the one analysis uses (or go back to the server's default), analyse studies
again on request.

A model is a detector's ONNX file and JSON (and the second stage's, when its JSON names one), uploaded or placed in
``$XRAYREPORT_HOME/models/inbox/<folder>/``; installing copies them to ``$XRAYREPORT_HOME/models/<random>/`` once
onnxruntime loads them, their JSON reads as a model's and the detector runs on a blank image of its input size.
Nothing analyses with it until an admin activates it (audited, :class:`~.models.ModelEvent`); studies already
analysed keep their findings, and a study not yet reviewed is analysed again only when a dentist asks.

The comparison (in the background, one at a time, progress in the database) measures both models on the test
part of the clinic's training export (:mod:`.clinicdata`: reviewed studies not excluded, split by patient), with
the figures and paired bootstrap intervals of ``xrayreport evaluate --compare`` resampled by patient, and applies
the verdict rule: ``$XRAYREPORT_HOME/compare-rule.yaml``, else ``xrayreport/training/clinic-compare-rule.yaml``.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ..detection.config import OBJECT_CLASSES, load_model_config
from ..detection.detector import Detector, default_model_path
from ..detection.tooth_findings import load_tooth_findings_config
from ..errors import XrayReportError
from ..export import TRAINING_CLASSES, folder_writer, split_of, write_training_export
from .analysis import Analyser, AnalysisRunner
from .models import DetectionModel, ModelEvent, StudyStatus, utc_now
from .scans import PRIVATE_FILE_MODE, ScanStore
from .studies import NotFoundError, get_study, record_audit

log = logging.getLogger(__name__)

MODELS_FOLDER = "models"
INBOX = "inbox"
RULE_FILE = "compare-rule.yaml"
PACKAGED_RULE = Path(__file__).resolve().parents[1] / "training" / "clinic-compare-rule.yaml"
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}\.(onnx|json)$")
_FOLDER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
RUNNING_STATES = ("queued", "running")


class ModelInstallError(XrayReportError):
    """Files that are not an installable model; the message says what is wrong (answered with 422)."""


class ModelConflictError(XrayReportError):
    """A model of that name and version is installed already, or a comparison runs (answered with 409)."""


def reported_classes(detector: Path) -> frozenset[str]:
    """The training classes a detector (with its second stage) reports: those whose threshold is at most 1."""
    config = load_model_config(detector.with_suffix(".json"))
    classes = {c for c in config.classes if config.score_thresholds.get(c, 0.0) <= 1.0}
    if config.second_stage:
        stage = load_tooth_findings_config((detector.parent / config.second_stage).with_suffix(".json"))
        classes |= {c for c in stage.classes if stage.score_thresholds.get(c, 0.0) <= 1.0}
    return frozenset(classes & set(TRAINING_CLASSES))


def model_path(home: Path, model: DetectionModel) -> Path:
    return home / MODELS_FOLDER / model.folder / model.detector_file


def known_reports(db: Session) -> dict[tuple[str, str], frozenset[str]]:
    """(name, version) -> reported classes of every installed model and of the server's default model."""
    known: dict[tuple[str, str], frozenset[str]] = {}
    default = default_model_path()
    if default.exists():
        try:
            config = load_model_config(default.with_suffix(".json"))
            known[(config.name, config.version)] = reported_classes(default)
        except XrayReportError as exc:
            log.warning("the default model's classes are unknown: %s", exc)
    for model in db.scalars(select(DetectionModel)):
        known[(model.name, model.version)] = frozenset(json.loads(model.reports))
    return known


def inbox_files(home: Path, folder: str) -> dict[str, bytes]:
    """The model files an admin placed in ``$XRAYREPORT_HOME/models/inbox/<folder>/``."""
    path = home / MODELS_FOLDER / INBOX / folder
    if not _FOLDER_NAME.match(folder) or not path.is_dir():
        raise ModelInstallError(
            f"no folder {folder!r} in {home / MODELS_FOLDER / INBOX}; place the model's files there"
        )
    return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.suffix in (".onnx", ".json") and p.is_file()}


def _detector_file(files: dict[str, bytes]) -> str:
    """The detector's ONNX among ``files``: the one whose JSON is not a second stage's."""
    for name in files:
        if not _FILE_NAME.match(name):
            raise ModelInstallError(f"{name!r}: give .onnx and .json files with plain names (letters, digits, . _ -)")
    detectors = []
    for name in files:
        if name.endswith(".onnx"):
            config_name = name.removesuffix(".onnx") + ".json"
            if config_name not in files:
                raise ModelInstallError(f"{name} has no {config_name} beside it; upload the model's JSON too")
            try:
                task = json.loads(files[config_name]).get("task")
            except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
                raise ModelInstallError(f"{config_name} is not a model's JSON object") from None
            if task is None:
                detectors.append(name)
    if len(detectors) != 1:
        raise ModelInstallError(
            f"expected one detector (an .onnx whose JSON has no 'task'), found {len(detectors)}: upload the detector's "
            ".onnx and .json, and its second stage's where its JSON names one"
        )
    return detectors[0]


def install_model(db: Session, home: Path, files: dict[str, bytes], user: str) -> DetectionModel:
    """Validate and install a model from its files (name -> content); see the module docstring."""
    detector_file = _detector_file(files)
    folder = secrets.token_hex(8)
    target = home / MODELS_FOLDER / folder
    target.mkdir(mode=0o700, parents=True)
    try:
        for name, data in files.items():
            (target / name).write_bytes(data)
            (target / name).chmod(PRIVATE_FILE_MODE)
        detector = _loaded(target / detector_file)
        config = detector.config
        if db.scalar(
            select(DetectionModel).where(DetectionModel.name == config.name, DetectionModel.version == config.version)
        ):
            raise ModelConflictError(f"{config.name} {config.version} is installed already; give a new version")
        model = DetectionModel(
            name=config.name[:100],
            version=config.version[:32],
            folder=folder,
            detector_file=detector_file,
            reports=json.dumps(sorted(reported_classes(target / detector_file))),
            installed_by=user,
            installed_at=utc_now(),
            active=False,
        )
        db.add(model)
        db.flush()
    except XrayReportError:
        shutil.rmtree(target, ignore_errors=True)
        raise
    _event(db, model, user, "install", f"{model.name} {model.version}, reports {', '.join(json.loads(model.reports))}")
    return model


def _loaded(path: Path) -> Detector:
    """The detector at ``path``, loaded with onnxruntime and run once on a blank image of its input size."""
    try:
        detector = Detector(path, threads=1)
        prep = detector.config.preprocessing
        detector.detect(np.zeros((prep.input_height, prep.input_width), np.uint8))
    except XrayReportError as exc:
        raise ModelInstallError(f"the model does not load: {exc}") from None
    except (KeyError, ValueError, AttributeError) as exc:
        raise ModelInstallError(f"the model's JSON does not describe a detector ({exc})") from None
    except Exception as exc:  # onnxruntime raises its own untyped exceptions when a graph does not fit its JSON
        raise ModelInstallError(f"the model does not run on an image of its input size ({exc})") from None
    if set(detector.config.classes) != set(OBJECT_CLASSES):
        raise ModelInstallError(f"a detector has the classes {', '.join(OBJECT_CLASSES)}")
    return detector


def _event(db: Session, model: DetectionModel, user: str, action: str, detail: str) -> None:
    db.add(ModelEvent(model=model, username=user, at=utc_now(), action=action, detail=detail))


def get_model(db: Session, model_id: int) -> DetectionModel:
    model = db.get(DetectionModel, model_id)
    if model is None:
        raise NotFoundError(f"no model #{model_id}; see the models page for those installed")
    return model


def active_model(db: Session) -> DetectionModel | None:
    return db.scalar(select(DetectionModel).where(DetectionModel.active.is_(True)))


def in_use_label(db: Session) -> str:
    """How pages name the model analysis uses now."""
    active = active_model(db)
    if active is not None:
        return f"{active.name} {active.version}"
    default = default_model_path()
    try:
        config = load_model_config(default.with_suffix(".json"))
    except XrayReportError:
        return "the server's default model"
    return f"{config.name} {config.version} (the server's default)"


def reanalyse(db: Session, runner: AnalysisRunner, study_ids: list[str], user: str) -> list[str]:
    """Queue studies a dentist asked to analyse again with the model in use; returns those queued. A reviewed
    study keeps its findings (the review started from them) and a study being analysed is left alone."""
    queued = []
    for study_id in study_ids:
        study = get_study(db, study_id, lock=True)
        if study.reviewed_findings is not None or study.status in (StudyStatus.QUEUED, StudyStatus.RUNNING):
            continue
        record_audit(db, study, user, "reanalyse", "analysis", None, {"model": in_use_label(db)})
        study.status, study.status_message, study.interrupted_runs = StudyStatus.QUEUED, None, 0
        queued.append(study.id)
    return queued


class ModelStore:
    """Activation and background comparisons for one workspace (see the module docstring)."""

    def __init__(
        self, home: Path, sessions: sessionmaker[Session], scans: ScanStore, secret: bytes, runner: AnalysisRunner
    ) -> None:
        self.home = home
        self._sessions = sessions
        self._scans = scans
        self._secret = secret
        self._runner = runner
        self._default: Analyser | None = runner.analyser
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="comparison")

    def open(self) -> None:
        """At start: analysis uses the active model (the default when it no longer loads); comparisons a stop
        cut short are marked failed."""
        with self._sessions.begin() as db:
            for model in db.scalars(select(DetectionModel).where(DetectionModel.comparison_state.in_(RUNNING_STATES))):
                model.comparison_state = "failed"
                model.comparison_progress = "interrupted by a server stop; start it again"
            active = active_model(db)
            path = None if active is None else model_path(self.home, active)
        if path is not None:
            try:
                self._runner.analyser = Detector(path).analyze
            except XrayReportError as exc:
                log.warning("the active model does not load (%s); analysis uses the server's default", exc)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def activate(self, db: Session, model: DetectionModel, user: str) -> None:
        """Make ``model`` the one analysis uses (audited); it is loaded first, so a broken one changes nothing."""
        analyser = Detector(model_path(self.home, model)).analyze
        before = in_use_label(db)
        for other in db.scalars(select(DetectionModel).where(DetectionModel.active.is_(True))):
            other.active = False
        model.active = True
        _event(db, model, user, "activate", f"analysis uses {model.name} {model.version} from now on (was {before})")
        self._runner.analyser = analyser

    def use_default(self, db: Session, user: str) -> None:
        """Analyse new scans with the server's default (shipped) model again, the one it started with (409 when it
        does already). Audited as ``deactivate`` on the model that was in use; analysed studies keep their findings."""
        active = active_model(db)
        if active is None:
            raise ModelConflictError(f"new scans are analysed with {in_use_label(db)} already")
        if self._default is None:
            raise XrayReportError("automatic analysis is not available on this server; there is no default model")
        was = f"{active.name} {active.version}"
        active.active = False
        db.flush()
        _event(db, active, user, "deactivate", f"analysis uses {in_use_label(db)} from now on (was {was})")
        self._runner.analyser = self._default

    def start_comparison(self, db: Session, model: DetectionModel, user: str) -> None:
        """Queue the comparison of ``model`` with the model in use (409 while one runs)."""
        if db.scalar(select(DetectionModel.id).where(DetectionModel.comparison_state.in_(RUNNING_STATES))):
            raise ModelConflictError("a comparison is running; wait until it ends")
        model.comparison_state, model.comparison_progress, model.comparison = "queued", "waiting to start", None
        _event(db, model, user, "compare", f"with {in_use_label(db)} on the clinic's held-back reviewed studies")
        model_id = model.id
        db.flush()
        self._pool.submit(self._compare_logged, model_id)

    def _compare_logged(self, model_id: int) -> None:
        try:
            result = self._compare(model_id)
        except XrayReportError as exc:
            self._finish(model_id, "failed", str(exc), None)
        except Exception:  # a bug must not leave the comparison 'running' for ever
            log.exception("the comparison of model #%d crashed", model_id)
            self._finish(model_id, "failed", "the comparison crashed; the error is in the server log", None)
        else:
            self._finish(model_id, "done", f"compared on {result['studies']} studies", result)

    def _compare(self, model_id: int) -> dict[str, Any]:
        from ..training.compare import compare, comparison_json, load_rule, verdict
        from ..training.datasets import DatasetConfig, load_split
        from ..training.evaluate import evaluate
        from .clinicdata import training_studies

        rule_path = self.home / RULE_FILE if (self.home / RULE_FILE).exists() else PACKAGED_RULE
        rule = load_rule(rule_path)
        with self._sessions.begin() as db:
            candidate = get_model(db, model_id)
            candidate.comparison_state = "running"
            active = active_model(db)
            paths = {
                in_use_label(db): default_model_path() if active is None else model_path(self.home, active),
                f"{candidate.name} {candidate.version}": model_path(self.home, candidate),
            }
            held_back = [
                s
                # The held-back copy is written to a temporary folder here and deleted: no pixels leave the server.
                for s in training_studies(db, self._scans, self._secret, leaves_server=False)
                if split_of(s.patient_key) == "test"
            ]
        if not held_back:
            raise XrayReportError(
                "no reviewed study of the clinic's held-back part yet (a fifth of the patients, chosen by key); "
                "compare again once more scans are reviewed"
            )
        tallies = []
        with tempfile.TemporaryDirectory(prefix="xrayreport-compare-") as folder:
            write_training_export(held_back, folder_writer(Path(folder)))
            dataset = DatasetConfig(
                "clinic", "xrayreport-export", Path(folder), frozenset(OBJECT_CLASSES), Path(folder) / "split.json"
            )
            samples = load_split(dataset, "test")
            for number, (label, path) in enumerate(paths.items(), start=1):

                def progress(done: int, total: int, label: str = label, number: int = number) -> None:
                    self._progress(model_id, f"model {number} of 2 ({label}): {done} of {total} studies")

                tallies.append(
                    evaluate(Detector(path), samples, progress=False, on_scan=progress, average_precision=False)[
                        "_tallies"
                    ]
                )
        compared = compare(tallies[0], tallies[1], groups=[s.group or s.image_path.name for s in samples])
        old, new = paths
        return {
            "old": old,
            "new": new,
            "studies": len(samples),
            "patients": len({s.group for s in samples}),
            "rule": rule_path.name,
            **comparison_json(compared, verdict(compared, rule)),
        }

    def _progress(self, model_id: int, text: str) -> None:
        with self._sessions.begin() as db:
            get_model(db, model_id).comparison_progress = text

    def _finish(self, model_id: int, state: str, text: str, result: dict[str, Any] | None) -> None:
        with self._sessions.begin() as db:
            model = get_model(db, model_id)
            model.comparison_state, model.comparison_progress = state, text
            model.comparison = None if result is None else json.dumps(result)
