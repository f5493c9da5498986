from enum import Enum


class Reason(str, Enum):
    BUDGET = "budget"
    CAPACITY = "capacity"
    DRIFT = "drift"
    RECOVERY = "recovery"
    SCHEDULE = "schedule"
    USER = "user"

    def __str__(self) -> str:
        return str(self.value)
