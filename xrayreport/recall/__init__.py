"""After the report: the plan's steps tracked until each is done, declined or no longer needed."""

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
    "OPEN_STATES",
    "StepChange",
    "StepState",
    "StepStateError",
    "TrackedStep",
    "check_change",
    "steps_to_track",
]
