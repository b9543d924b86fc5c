"""Per-tooth chart: which teeth are present, missing, not seen, treated or have a problem."""

from .chart import (
    PROBLEM_TYPES,
    TREATMENT_TYPES,
    ChartTooth,
    ToothChart,
    ToothState,
    build_chart,
    patient_age_years,
)

__all__ = [
    "PROBLEM_TYPES",
    "TREATMENT_TYPES",
    "ChartTooth",
    "ToothChart",
    "ToothState",
    "build_chart",
    "patient_age_years",
]
