from enum import Enum


class ActionResult(str, Enum):
    ALREADY_RUNNING = "already_running"
    JOINED = "joined"
    NOTHING_TO_DESTROY = "nothing_to_destroy"
    PROTECTION_CHANGED = "protection_changed"
    QUEUED = "queued"
    REMOVED = "removed"
    SCHEDULED = "scheduled"
    UNSCHEDULED = "unscheduled"
    VISIBILITY_CHANGED = "visibility_changed"

    def __str__(self) -> str:
        return str(self.value)
