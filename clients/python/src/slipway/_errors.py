"""One exception hierarchy for everything the client raises."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .rest.models.operation_view import OperationView


class SlipwayError(Exception):
    """An error from Slipway, or about reaching it.

    ``code`` is the server's stable code (``forbidden``, ``not_found``,
    ``token_revoked``...) or the client's own (``unavailable``,
    ``credentials``...), ``message`` what to tell a person, ``status`` the
    HTTP status when the server answered. ``str(error)`` is the message.
    """

    def __init__(self, message: str, *, code: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(code={self.code!r}, status={self.status!r}, message={self.message!r})"


class CredentialsError(SlipwayError):
    """The credentials file cannot be used: open to other users, unreadable, or
    not JSON. The message names the file and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="credentials")


class OperationFailed(SlipwayError):
    """An operation (a deploy, a destroy) ended without doing what was asked:
    it failed, was cancelled or interrupted. ``error`` is the operation's
    own error text, ``operation`` the operation as it ended."""

    def __init__(self, message: str, *, operation: OperationView, error: str | None) -> None:
        super().__init__(message, code="operation_failed")
        self.operation = operation
        self.error = error


class StillRunning(SlipwayError):
    """The wait ended before the operation did; it goes on. ``operation`` is
    the operation as it was."""

    def __init__(self, message: str, *, operation: OperationView) -> None:
        super().__init__(message, code="still_running")
        self.operation = operation


def error_from_answer(status: int, content: bytes) -> SlipwayError:
    """The error a refusal says: ``{"error": {"code", "message"}}``, or the
    start of whatever else the server answered."""
    try:
        detail = json.loads(content)["error"]
        code, message = detail["code"], detail["message"]
        if isinstance(code, str) and isinstance(message, str):
            return SlipwayError(message, code=code, status=status)
    except (ValueError, KeyError, TypeError):
        pass
    text = content.decode("utf-8", "replace").strip()[:500]
    return SlipwayError(
        f"unexpected answer (HTTP {status}){': ' + text if text else ''}",
        code="unexpected_answer",
        status=status,
    )
