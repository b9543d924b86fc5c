"""Load on loopback: 24 concurrent uploads to a real uvicorn server; no error, nothing lost, all analysed."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import select

from xrayreport.web.database import make_engine, make_sessions
from xrayreport.web.models import Study

from .conftest import LiveServer, bearer_for, scan_png

UPLOADS = 24


def _load_script() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "web_load.py"
    spec = importlib.util.spec_from_file_location("web_load", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_concurrent_uploads_are_all_stored_and_analysed(live_server: LiveServer) -> None:
    web_load = _load_script()
    scans = [(f"scan-{i}.png", scan_png(100 + i)) for i in range(UPLOADS)]
    result = web_load.run_load(live_server.url, bearer_for(live_server.url), scans, concurrency=UPLOADS, timeout_s=120)
    assert result.errors == []
    assert len(result.study_ids) == len(set(result.study_ids)) == UPLOADS
    assert set(result.statuses.values()) == {"done"}
    engine = make_engine(live_server.config.db_url)
    with make_sessions(engine)() as db:
        studies = db.scalars(select(Study)).all()
        stored = {s.sha256 for s in studies}
        for study in studies:  # every stored file is whole, and its findings belong to it
            data = (live_server.config.scans_dir / study.scan_file).read_bytes()
            assert hashlib.sha256(data).hexdigest() == study.sha256
            model = study.model_document()
            assert model is not None and model.image.sha256 == study.sha256
    assert stored == {hashlib.sha256(data).hexdigest() for _, data in scans}
    engine.dispose()
