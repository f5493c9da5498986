from enum import Enum


class OperationKind(str, Enum):
    CLEANUP = "cleanup"
    DEPLOY = "deploy"
    DESTROY = "destroy"
    PLAN = "plan"
    REFRESH = "refresh"
    RELEASE = "release"
    TEST = "test"
    UPDATE = "update"

    def __str__(self) -> str:
        return str(self.value)
