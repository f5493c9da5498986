from enum import Enum


class PromotionState(str, Enum):
    CURRENT = "current"
    READY = "ready"
    WAITING = "waiting"

    def __str__(self) -> str:
        return str(self.value)
