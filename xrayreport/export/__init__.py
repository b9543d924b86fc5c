"""De-identified exports for researchers: reviewed findings (and, when asked, the images) without identity, and
the reviewed studies as a training source (:mod:`.training`)."""

from .deidentified import EXPORT_FORMAT, ExportOptions, ExportStudy, deidentified_record, pseudonym, write_export
from .training import (
    TRAINING_CLASSES,
    TRAINING_EXPORT_FORMAT,
    TYPE_CLASSES,
    ExportedFinding,
    TrainingStudy,
    folder_writer,
    split_of,
    write_training_export,
    write_training_zip,
)

__all__ = [
    "EXPORT_FORMAT",
    "TRAINING_CLASSES",
    "TRAINING_EXPORT_FORMAT",
    "TYPE_CLASSES",
    "ExportOptions",
    "ExportStudy",
    "ExportedFinding",
    "TrainingStudy",
    "deidentified_record",
    "folder_writer",
    "pseudonym",
    "split_of",
    "write_export",
    "write_training_export",
    "write_training_zip",
]
