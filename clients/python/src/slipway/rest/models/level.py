from enum import Enum


class Level(str, Enum):
    ADMIN = "admin"
    ANONYMOUS = "anonymous"
    MEMBER = "member"
    ORG_MEMBER = "org_member"

    def __str__(self) -> str:
        return str(self.value)
