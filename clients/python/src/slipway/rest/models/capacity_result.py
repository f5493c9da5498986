from enum import Enum


class CapacityResult(str, Enum):
    QUEUED = "queued"
    REDUNDANT = "redundant"
    UNCHANGED = "unchanged"
    WAITING = "waiting"

    def __str__(self) -> str:
        return str(self.value)
