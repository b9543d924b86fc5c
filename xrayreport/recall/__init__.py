"""After the report: the plan's steps tracked until each is done, declined or no longer needed."""

from .appointments import Appointment, AppointmentImportError, parse_appointments
from .proposals import OpenStepTeeth, Proposal, propose
from .recall_list import RecallCandidate, RecallEntry, RecallList, recall_list
from .sleeping import (
    DEFAULT_WAIT_MONTHS,
    Category,
    SleepRules,
    Standing,
    StepStatus,
    category_of,
    reason_to_call,
    standing,
)
from .steps import (
    OPEN_STATES,
    StepChange,
    StepState,
    StepStateError,
    TrackedStep,
    check_change,
    steps_to_track,
)

__all__ = [
    "DEFAULT_WAIT_MONTHS",
    "OPEN_STATES",
    "Appointment",
    "AppointmentImportError",
    "Category",
    "OpenStepTeeth",
    "Proposal",
    "RecallCandidate",
    "RecallEntry",
    "RecallList",
    "SleepRules",
    "Standing",
    "StepChange",
    "StepState",
    "StepStateError",
    "StepStatus",
    "TrackedStep",
    "category_of",
    "check_change",
    "parse_appointments",
    "propose",
    "reason_to_call",
    "recall_list",
    "standing",
    "steps_to_track",
]
