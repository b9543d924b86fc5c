"""The DICOM node: receives panoramics from imaging equipment into the workspace, and gives results back as DICOM.

- :mod:`.node`: :class:`NodeConfig`, the node's AE title, address and the calling AE titles allowed (no
  pynetdicom needed).
- :mod:`.receive`: :class:`~.receive.Receiver` stores one received object as an upload is stored and answers
  its C-STORE status (:class:`~.receive.StoreStatus`).
- :mod:`.scp`: :class:`~.scp.StorageSCP`, the pynetdicom Storage SCP (C-ECHO, C-STORE) around a receiver.
- :mod:`.command`: ``xrayreport dicom listen`` and the node options of ``xrayreport serve --dicom-port``.
- :mod:`.codes`: coded concepts of the results: SNOMED CT teeth (DICOM CID 4018/4019), the finding types.
- :mod:`.results`: a reviewed study's results as DICOM: structured report, overlay capture, report PDF (highdicom).
- :mod:`.pacs`: the clinic file's ``pacs:`` section and sending results there with C-STORE.
- :mod:`.pull`: pulling a patient's studies from the PACS (DICOMweb, or :mod:`.move`: C-FIND and C-MOVE).

Importing this package imports nothing heavy: pynetdicom (the ``[dicom]`` extra) and the database come with
the submodules that need them.
"""

from .node import DEFAULT_AE_TITLE, DEFAULT_PORT, NodeConfig, check_ae_title

__all__ = ["DEFAULT_AE_TITLE", "DEFAULT_PORT", "NodeConfig", "check_ae_title"]
