"""The patient report: X-ray with numbered findings, tooth chart, staged plan, next visit; PDF or HTML."""

from .build import PlannedCare, ReportView, build_report, number_findings, plan_care, tooth_name
from .clinic import Clinic, ClinicConfigError, clinic_from_dict, load_clinic
from .i18n import LANGUAGES, Messages, language

__all__ = [
    "LANGUAGES",
    "Clinic",
    "ClinicConfigError",
    "Messages",
    "PlannedCare",
    "ReportView",
    "build_report",
    "clinic_from_dict",
    "language",
    "load_clinic",
    "number_findings",
    "plan_care",
    "tooth_name",
]
