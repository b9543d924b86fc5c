"""Scan ingestion: DICOM and image files in, :class:`Radiograph` out."""

from .radiograph import DEFAULT_LIMITS, MAX_PIXELS, Radiograph, ScanLimits, ScanMetadata, can_decode, load_scan

__all__ = ["DEFAULT_LIMITS", "MAX_PIXELS", "Radiograph", "ScanLimits", "ScanMetadata", "can_decode", "load_scan"]
