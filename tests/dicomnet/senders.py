"""What the tests send and how: synthetic radiographs (pydicom, no real scan) and a pynetdicom sender.

Every image carries a made-up patient; tests give each its own Patient ID to find its study again.
"""

from __future__ import annotations

import io
import shutil

import pytest
from ingestion.dicom_factory import PATIENT, make_dicom
from pydicom import dcmread, uid
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.association import Association

CALLING_AE = "PANO1"
"""The device the test nodes accept; any other calling AE title is rejected."""
NODE_AE = "XRAYREPORT"


def radiograph(patient_id: str = PATIENT["PatientID"], modality: str = "PX", bits_stored: int = 12) -> Dataset:
    """A 480 x 240 synthetic radiograph (DX image storage for PX and DX, its own class otherwise) of the
    made-up patient ``PATIENT`` with ``patient_id``."""
    return dcmread(io.BytesIO(make_dicom(modality=modality, bits_stored=bits_stored, extra={"PatientID": patient_id})))


def associate(port: int, *sop_classes: str, calling_ae: str = CALLING_AE, called_ae: str = NODE_AE) -> Association:
    """An association from ``calling_ae`` to the node on 127.0.0.1:``port`` proposing ``sop_classes`` (default:
    DX for presentation) in Explicit VR Little Endian."""
    sender = AE(ae_title=calling_ae)
    for sop_class in sop_classes or (uid.DigitalXRayImageStorageForPresentation,):
        sender.add_requested_context(sop_class, uid.ExplicitVRLittleEndian)
    return sender.associate("127.0.0.1", port, ae_title=called_ae)


def send(port: int, *datasets: Dataset) -> list[int]:
    """Send ``datasets`` in one association; the status of each (-1 for no answer: the association ended)."""
    association = associate(port, *{ds.SOPClassUID for ds in datasets})
    assert association.is_established
    statuses = [int(association.send_c_store(ds).get("Status", -1)) for ds in datasets]
    if association.is_established:
        association.release()
    return statuses


def dcmtk(program: str) -> str:
    """The path of a dcmtk program; the test skips, saying how to install it, when it is missing."""
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} is not installed: apt-get install dcmtk (scripts/install-system-deps.sh --tests)")
    return path
