from enum import Enum


class DeviceStatus(str, Enum):
    COMPLETE = "complete"
    PENDING = "pending"
    SLOW_DOWN = "slow_down"

    def __str__(self) -> str:
        return str(self.value)
