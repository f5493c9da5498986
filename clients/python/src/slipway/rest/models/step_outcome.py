from enum import Enum


class StepOutcome(str, Enum):
    CANCELLED = "cancelled"
    FAILED = "failed"
    NOT_RUN = "not_run"
    PASSED = "passed"
    TIMED_OUT = "timed_out"

    def __str__(self) -> str:
        return str(self.value)
