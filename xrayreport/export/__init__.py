"""De-identified exports for researchers: reviewed findings (and, when asked, the images) without identity."""

from .deidentified import EXPORT_FORMAT, ExportOptions, ExportStudy, deidentified_record, pseudonym, write_export

__all__ = ["EXPORT_FORMAT", "ExportOptions", "ExportStudy", "deidentified_record", "pseudonym", "write_export"]
