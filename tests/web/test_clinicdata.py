"""The training export from the workspace: only reviewed, not excluded studies; no patient field survives."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable

from fastapi.testclient import TestClient
from ingestion.dicom_factory import PATIENT, make_dicom  # tests/ingestion: generated DICOM files

from xrayreport.web.auth import add_user
from xrayreport.web.studies import accept_findings, add_finding, get_study, reject_findings, relabel_findings

from .conftest import bearer, scan_png, upload, wait_for_findings

RESEARCHER_PASSWORD = "a researcher's long passphrase"


def review(client: TestClient, study_id: str) -> None:
    """Accept f1 (caries 36), relabel f2 (filling 46) as a crown, reject f3 (caries 17), add a lesion on 36."""
    with client.app.state.workspace.sessions.begin() as db:  # type: ignore[attr-defined]
        study = get_study(db, study_id)
        accept_findings(db, study, ["f1"], "dr-lee")
        relabel_findings(db, study, ["f2"], "crown", "dr-lee")
        reject_findings(db, study, ["f3"], "dr-lee")
        add_finding(db, study, "periapical_lesion", "36", None, "dr-lee")


def test_the_training_export_holds_reviewed_studies_without_any_patient_field(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    auth = bearer(client)
    with client.app.state.workspace.sessions.begin() as db:  # type: ignore[attr-defined]
        add_user(db, "rex", RESEARCHER_PASSWORD, ["researcher"])
    named = client.post(
        "/api/studies", headers=auth, files={"file": ("Doe_Jane_P-0042_1980-01-31.dcm", make_dicom())}
    ).json()["id"]
    waiting = upload(client, auth, scan_png(2), patient_name="Waiting Patient")
    excluded = upload(client, auth, scan_png(3), patient_name="Excluded Patient")
    for study_id in (named, waiting, excluded):
        wait_for_findings(client, auth, study_id)
    review(client, named)
    review(client, excluded)  # the third, analysed but never reviewed, stays out too
    answer = client.put(f"/api/studies/{excluded}/training", headers=auth, json={"excluded": True})
    assert answer.json() == {"excluded": True}
    audit = client.get(f"/api/studies/{excluded}/audit", headers=auth).json()
    assert audit[0]["subject"] == "training use" and audit[0]["after"] == {"excluded": True}

    researcher = bearer(client, "rex", RESEARCHER_PASSWORD)
    response = client.get("/api/exports/training.zip", headers=researcher)
    assert response.status_code == 200 and response.headers["x-export-studies"] == "0"
    # A scan whose header says nothing about burned-in text stays out until a dentist has looked and marked it.
    unchecked = zipfile.ZipFile(io.BytesIO(response.content))
    (left_out,) = json.loads(unchecked.read("manifest.json"))["left_out"]
    assert "Burned In Annotation (0028,0301) is missing" in left_out["reason"]
    assert not [n for n in unchecked.namelist() if n.startswith(("images/", "studies/"))]
    assert client.put(f"/api/studies/{named}/burned-in-check", headers=auth, json={"checked": True}).status_code == 200

    response = client.get("/api/exports/training.zip", headers=researcher)
    assert response.status_code == 200 and response.headers["x-export-studies"] == "1"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert json.loads(archive.read("manifest.json"))["left_out"] == []
    names = archive.namelist()
    (record_name,) = [n for n in names if n.startswith("studies/")]
    record = json.loads(archive.read(record_name))
    assert record["model"] == {"name": "test-double-analyser", "version": "0"}
    assert record["covered"] == []  # a model the workspace does not know: its review says nothing is absent
    assert [(f["type"], f["tooth"], f["origin"]) for f in record["findings"]] == [
        ("caries", "36", "model"),
        ("crown", "46", "relabelled"),
        ("periapical_lesion", "36", "dentist"),
    ]
    assert record["findings"][1]["model_type"] == "filling"
    assert [(f["type"], f["tooth"]) for f in record["rejected"]] == [("caries", "17")]
    png = archive.read(record["image"]["file"])
    assert png.startswith(b"\x89PNG") and b"tEXt" not in png and b"iTXt" not in png and b"zTXt" not in png
    everything = " ".join(names).encode() + b"".join(archive.read(n) for n in names)
    identities = [*PATIENT.values(), "Doe", "Jane", "P-0042", "1980", "Riverside", "Waiting", "Excluded", "dr-lee"]
    for identity in [*identities, named, waiting, excluded, "Doe_Jane"]:
        assert identity.encode() not in everything, identity
    assert json.loads(archive.read("split.json"))[record["split"]] == [record["study"]]
    assert record["study"] == left_out["study"]  # the same study, now marked


def test_keeping_a_study_out_of_training_needs_a_known_study_and_a_boolean(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    auth = bearer(client)
    study_id = upload(client, auth, scan_png(4))
    assert client.put("/api/studies/nope/training", headers=auth, json={"excluded": True}).status_code == 404
    assert client.put(f"/api/studies/{study_id}/training", headers=auth, json={"excluded": "x"}).status_code == 422
    assert client.put(f"/api/studies/{study_id}/training", headers=auth, json={}).status_code == 422
