from enum import Enum


class DeploymentAction(str, Enum):
    CREATE = "create"
    DEPLOY = "deploy"
    NONE = "none"

    def __str__(self) -> str:
        return str(self.value)
