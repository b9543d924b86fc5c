"""``xrayreport dicom pull``: studies fetched from a real Orthanc on 127.0.0.1 (with its DICOMweb plugin, or over DIMSE
with C-FIND and C-MOVE) into a workspace's home, analysed with the shipped model before the command ends."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from ingestion.dicom_factory import make_dicom

from xrayreport.cli import main
from xrayreport.web.database import make_engine, make_sessions
from xrayreport.web.models import StudyStatus

from .conftest import stored
from .orthanc import ORTHANC_AE, free_port, running_orthanc
from .senders import NODE_AE, radiograph


def _home(tmp_path: Path, url: str) -> Path:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "clinic.yaml").write_text(f"dicomweb:\n  url: {url}\n  timeout_s: 10\n")
    return home


def test_a_patients_studies_are_pulled_and_analysed_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with running_orthanc(tmp_path / "orthanc", {}, dicomweb=True) as orthanc:
        for patient_id in ("PULL-7", "PULL-7", "OTHER"):  # two studies of the patient (new UIDs each), one of another
            orthanc.post("/instances", make_dicom(extra={"PatientID": patient_id}))
        ct = radiograph("PULL-7", modality="CT")  # a CT image: not fetched
        ct_as_dx = radiograph("PULL-7")  # a DX image whose Modality says CT: fetched, and refused as an upload is
        ct_as_dx.Modality = "CT"
        for ds in (ct, ct_as_dx):
            buffer = io.BytesIO()
            ds.save_as(buffer, enforce_file_format=True)
            orthanc.post("/instances", buffer.getvalue())
        home = _home(tmp_path, orthanc.dicomweb_url)
        command = ["dicom", "pull", "--home", str(home), "--patient-id", "PULL-7"]
        assert main(command) == 1  # an image was refused, the rest stored
        out, err = capsys.readouterr()
        assert out.count(": pulled, analysing\n") == 2
        assert err == "xrayreport: an image was refused: status 0xA900: not a single-frame 2D dental radiograph\n"
        assert "PULL-7" not in out + err
        engine = make_engine(f"sqlite:///{home / 'xrayreport.sqlite3'}")
        studies = stored(make_sessions(engine))
        assert [(patient_id, study.created_by) for patient_id, study in studies] == [("PULL-7", "dicom:DICOMweb")] * 2
        assert {study.status for _, study in studies} == {StudyStatus.DONE}  # analysed before the command ended
        assert main(command) == 1
        assert len(stored(make_sessions(engine))) == 2  # pulled again: nothing stored twice
        engine.dispose()
        capsys.readouterr()
        assert main(["dicom", "pull", "--home", str(home), "--patient-id", "NOBODY"]) == 1
        assert capsys.readouterr().err == (
            f"xrayreport: error: the DICOMweb {orthanc.dicomweb_url} has no dental radiograph in the studies asked "
            "for\n"
        )


def test_pull_without_a_dicomweb_server_or_reaching_none_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "home").mkdir()
    assert main(["dicom", "pull", "--home", str(tmp_path / "home"), "--patient-id", "P"]) == 1
    assert capsys.readouterr().err.startswith("xrayreport: error: no PACS is set up to pull from: add a dicomweb:")
    home = _home(tmp_path, f"http://127.0.0.1:{free_port()}/dicom-web")
    assert main(["dicom", "pull", "--home", str(home), "--study-uid", "1.2.3"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("xrayreport: error: cannot reach the DICOMweb http://127.0.0.1:") and error.count("\n") == 1


def test_without_dicomweb_the_pacs_section_pulls_with_c_move_to_a_node_of_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    with running_orthanc(tmp_path / "orthanc", {"xrayreport": (NODE_AE, port)}) as orthanc:
        orthanc.post("/instances", make_dicom(extra={"PatientID": "MOVE-1"}))
        home = tmp_path / "home"
        home.mkdir()
        (home / "clinic.yaml").write_text(
            f"pacs:\n  ae_title: {ORTHANC_AE}\n  host: 127.0.0.1\n  port: {orthanc.dicom_port}\n  move_port: {port}\n"
        )
        assert main(["dicom", "pull", "--home", str(home), "--patient-id", "MOVE-1"]) == 0
        assert capsys.readouterr().out.endswith(": pulled, analysing\n")
        engine = make_engine(f"sqlite:///{home / 'xrayreport.sqlite3'}")
        ((patient_id, study),) = stored(make_sessions(engine))
        engine.dispose()
        assert (patient_id, study.created_by, study.status) == ("MOVE-1", f"dicom:{ORTHANC_AE}", StudyStatus.DONE)
        assert main(["dicom", "pull", "--home", str(home), "--patient-id", "NOBODY"]) == 1
        assert capsys.readouterr().err == (
            f"xrayreport: error: the PACS {ORTHANC_AE} at 127.0.0.1:{orthanc.dicom_port} has no dental radiograph in "
            "the studies asked for\n"
        )
