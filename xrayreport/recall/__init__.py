"""After the report: the plan's steps tracked until each is done, declined or no longer needed."""

from .sleeping import DEFAULT_WAIT_MONTHS, Category, SleepRules, Standing, StepStatus, category_of, standing
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
    "Category",
    "SleepRules",
    "Standing",
    "StepChange",
    "StepState",
    "StepStateError",
    "StepStatus",
    "TrackedStep",
    "category_of",
    "check_change",
    "standing",
    "steps_to_track",
]
