"""Scan ingestion: DICOM and image files in, :class:`Radiograph` out."""

from .radiograph import MAX_PIXELS, Radiograph, ScanMetadata, load_scan

__all__ = ["MAX_PIXELS", "Radiograph", "ScanMetadata", "load_scan"]
