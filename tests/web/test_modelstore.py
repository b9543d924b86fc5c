"""The workspace's models: installing refuses what is not a model; the whole cycle of learning from the clinic."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from xrayreport.web.auth import add_user

from .conftest import bearer, scan_png, upload, wait_for_findings
from .test_roles import shipped_model_files

PASSWORD = "a long passphrase for admins"


def with_admin_and_researcher(client: TestClient) -> tuple[dict[str, str], dict[str, str]]:
    with client.app.state.workspace.sessions.begin() as db:  # type: ignore[attr-defined]
        add_user(db, "ann", PASSWORD, ["admin"])
        add_user(db, "rex", PASSWORD, ["researcher"])
    return bearer(client, "ann", PASSWORD), bearer(client, "rex", PASSWORD)


def test_installing_refuses_what_is_not_a_model(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    admin, _ = with_admin_and_researcher(client)
    detector_json = json.loads(shipped_model_files()[1][1][1])
    cases: list[tuple[list[Any], dict[str, str], str]] = [
        (
            [("files", ("d.onnx", b"not a model")), ("files", ("d.json", json.dumps(detector_json).encode()))],
            {},
            "does not load",
        ),
        ([("files", ("d.onnx", b"x"))], {}, "no d.json beside it"),
        ([("files", ("d.onnx", b"x")), ("files", ("d.json", b"[1, 2]"))], {}, "not a model's JSON object"),
        ([("files", ("my model.onnx", b"x"))], {}, "plain names"),
        ([], {"folder": "../../etc"}, "no folder"),
        ([], {}, "either the model's files"),
    ]
    for files, data, message in cases:
        answer = client.post("/api/models", headers=admin, files=files or None, data=data)
        assert answer.status_code == 422 and message in answer.json()["detail"], (message, answer.text)
    assert client.post("/api/models", headers=admin, files=shipped_model_files()).status_code == 201
    again = client.post("/api/models", headers=admin, files=shipped_model_files())
    assert again.status_code == 409 and "installed already" in again.json()["detail"]
    assert client.post("/api/models/99/activate", headers=admin).status_code == 404
    home = client.app.state.workspace.config.home  # type: ignore[attr-defined]
    assert len(list((home / "models").iterdir())) == 1  # what failed left nothing behind


def wait_for_comparison(client: TestClient, admin: dict[str, str], model_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        model: dict[str, Any] = client.get(f"/api/models/{model_id}", headers=admin).json()
        if model["comparison"]["state"] in ("done", "failed") or time.monotonic() > deadline:
            return model
        time.sleep(0.2)


def test_export_fine_tune_compare_and_activate(
    make_client: Callable[..., TestClient], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch", reason="fine-tuning needs the [train] extra")
    from detection.tiny_model import export_untrained_model
    from training.still_augmentation import STILL

    from xrayreport.training.export import export_onnx
    from xrayreport.training.train import DatasetEntry, TrainConfig, train

    monkeypatch.setenv("XRAYREPORT_SECRET_KEY", "a fixed key, so the patients' split is known")
    (tmp_path / "first").mkdir()
    first = export_untrained_model(tmp_path / "first")  # tiny 0.0.1, 320 x 160, every class at 0.3
    client = make_client()
    admin, researcher = with_admin_and_researcher(client)
    auth = bearer(client)
    home = client.app.state.workspace.config.home  # type: ignore[attr-defined]
    (home / "compare-rule.yaml").write_text("improves: [caries_f1]\nno_worse_than: {caries_f1: 1.0}\n")
    upload_files = [("files", (p.name, p.read_bytes())) for p in (first, first.with_suffix(".json"))]
    installed = client.post("/api/models", headers=admin, files=upload_files).json()
    assert installed["reports"] == ["caries", "impacted", "implant", "restoration", "tooth"]
    assert client.post(f"/api/models/{installed['id']}/activate", headers=admin).status_code == 200

    # Ten patients' scans analysed by it and reviewed: its findings confirmed, a caries added on each.
    studies = []
    for seed in range(10):
        study_id = upload(client, auth, scan_png(seed), patient_name=f"Patient {seed}")
        document = wait_for_findings(client, auth, study_id).json()
        assert (document["model"]["name"], document["model"]["version"]) == ("tiny", "0.0.1")
        box = [100.0, 100.0, 140.0, 150.0]
        document["findings"].append({"id": "d1", "type": "caries", "tooth": None, "box": box, "source": "dentist"})
        assert client.put(f"/api/studies/{study_id}/findings", headers=auth, json=document).status_code == 200
        # Image uploads leave the server only once a dentist has looked for burned-in text (docs/exports.md).
        mark = client.put(f"/api/studies/{study_id}/burned-in-check", headers=auth, json={"checked": True})
        assert mark.status_code == 200
        studies.append(study_id)

    # The export, unpacked beside the public sources, fine-tunes the installed model.
    archive = zipfile.ZipFile(io.BytesIO(client.get("/api/exports/training.zip", headers=researcher).content))
    archive.extractall(tmp_path / "data" / "clinic")
    split = json.loads(archive.read("split.json"))
    assert {name: len(keys) for name, keys in split.items()} == {"train": 6, "val": 2, "test": 2}
    for study_id in studies:  # the comparison below reads them all the same: its copy never leaves the server
        client.put(f"/api/studies/{study_id}/burned-in-check", headers=auth, json={"checked": False})
    (tmp_path / "clinic.yaml").write_text(
        yaml.safe_dump({"name": "clinic", "format": "xrayreport-export", "root": "clinic"})
    )
    config = TrainConfig(
        name="tuned",
        datasets=(DatasetEntry(config="clinic.yaml"),),
        data_root=str(tmp_path / "data"),
        input_width=320,
        input_height=160,
        epochs=1,
        batch_size=4,
        warmup_steps=1,
        pretrained=None,
        initial_weights=str(first),
        workers=0,
        augment=STILL,
    )
    train(config, tmp_path, tmp_path / "run", device_name="cpu")
    (tmp_path / "second").mkdir()
    second = tmp_path / "second" / "tiny.onnx"
    export_onnx(tmp_path / "run" / "best.pt", second, name="tiny", version="0.0.2", trained_on=("clinic",))

    # Installed, compared with the model in use on the held-back reviewed studies, activated.
    upload_files = [("files", (p.name, p.read_bytes())) for p in (second, second.with_suffix(".json"))]
    candidate = client.post("/api/models", headers=admin, files=upload_files).json()
    assert client.post(f"/api/models/{candidate['id']}/comparison", headers=admin).status_code == 202
    compared = wait_for_comparison(client, admin, candidate["id"])
    assert compared["comparison"]["state"] == "done", compared["comparison"]
    result = compared["comparison"]["result"]
    assert (result["old"], result["new"], result["studies"], result["patients"]) == ("tiny 0.0.1", "tiny 0.0.2", 2, 2)
    assert result["rule"] == "compare-rule.yaml" and "caries_f1" in result["figures"]  # the dentists' added caries
    assert any("caries_f1" in reason for reason in result["verdict"]["reasons"])
    assert client.post(f"/api/models/{candidate['id']}/activate", headers=admin).status_code == 200
    listing = client.get("/api/models", headers=admin).json()
    assert listing["in_use"] == "tiny 0.0.2"
    events = [e["action"] for e in client.get(f"/api/models/{candidate['id']}", headers=admin).json()["events"]]
    assert events == ["activate", "compare", "install"]
    # New scans are analysed with it; those analysed before keep their findings until a dentist asks again.
    later = upload(client, auth, scan_png(99))
    assert wait_for_findings(client, auth, later).json()["model"]["version"] == "0.0.2"
    assert client.get(f"/api/studies/{studies[0]}/findings", headers=auth).json()["model"]["version"] == "0.0.1"
    asked = client.post("/api/reanalysis", headers=auth, json={"studies": [studies[0], later]}).json()
    assert asked == {"queued": [later], "left": [studies[0]]}  # a reviewed study keeps what its review started from
    assert wait_for_findings(client, auth, later).json()["model"]["version"] == "0.0.2"


def test_an_admin_goes_back_to_the_default_model(make_client: Callable[..., TestClient]) -> None:
    from .doubles import TEST_MODEL

    client = make_client()
    admin, _ = with_admin_and_researcher(client)
    auth = bearer(client)
    refused = client.post("/api/models/use-default", headers=admin)
    assert refused.status_code == 409 and "(the server's default) already" in refused.json()["detail"]
    installed = client.post("/api/models", headers=admin, files=shipped_model_files(version="9.0.0")).json()
    assert client.post(f"/api/models/{installed['id']}/activate", headers=admin).status_code == 200

    answer = client.post("/api/models/use-default", headers=admin)
    assert answer.status_code == 200, answer.text
    assert answer.json()["in_use"] == "detector-v1 1.2.0 (the server's default)"
    assert [m["active"] for m in answer.json()["models"]] == [False]
    events = client.get(f"/api/models/{installed['id']}", headers=admin).json()["events"]
    assert [e["action"] for e in events] == ["deactivate", "activate", "install"] and events[0]["user"] == "ann"
    assert events[0]["detail"] == (
        "analysis uses detector-v1 1.2.0 (the server's default) from now on (was detector-v1 9.0.0)"
    )
    # New scans are analysed by the analyser the server started with (here the tests' own).
    study_id = upload(client, auth, scan_png(7))
    assert wait_for_findings(client, auth, study_id).json()["model"]["name"] == TEST_MODEL.name
