from enum import Enum


class ClusterState(str, Enum):
    ABSENT = "absent"
    DEPLOYING = "deploying"
    DESTROYING = "destroying"
    FAILED = "failed"
    RUNNING = "running"
    UPDATING = "updating"

    def __str__(self) -> str:
        return str(self.value)
