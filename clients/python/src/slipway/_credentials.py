"""The credentials file the CLI's ``slipway login`` shares: one user token per
server, ``$XDG_CONFIG_HOME/slipway/credentials.json`` (when that variable is
an absolute path) or ``~/.config/slipway/credentials.json``, mode 600::

    {"servers": {"https://slipway.example.org": {
        "token": "...", "login": "alice", "expires_at": "2026-12-08T09:00:00Z"}}}

A file that others may read is refused, never used; writes replace the file
atomically with one that only its owner may read.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ._errors import CredentialsError


@dataclass(frozen=True)
class Saved:
    """A user token saved for one server."""

    token: str
    login: str
    expires_at: datetime


def credentials_path() -> Path:
    """Where the credentials file is, as the CLI finds it."""
    config = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(config) if config and os.path.isabs(config) else Path.home() / ".config"
    return base / "slipway" / "credentials.json"


def server_key(server: str) -> str:
    """A server's entry: its URL without a trailing slash."""
    return server.rstrip("/")


_FRACTION = re.compile(r"\.(\d+)")


def parse_time(value: str) -> datetime:
    """An RFC 3339 time, as chrono writes it (``Z``, up to nanoseconds);
    Python 3.10's ``fromisoformat`` takes only 3 or 6 digits of fraction."""
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), value.strip(), count=1)
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return parsed


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC, with ``Z``."""
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _read(path: Path) -> dict[str, Any]:
    """The file's servers (raw entries), refusing a file open to others."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise CredentialsError(f"cannot read {path}: {e.strerror}") from e
    with os.fdopen(fd, "rb") as file:
        mode = stat.S_IMODE(os.fstat(file.fileno()).st_mode)
        if mode & 0o077:
            raise CredentialsError(
                f"{path} is open to other users (mode {mode:04o}): run chmod 600 {path}"
            )
        text = file.read()
    try:
        document = json.loads(text)
        servers = document.get("servers", {}) if isinstance(document, dict) else None
        if not isinstance(servers, dict):
            raise ValueError("servers is not an object")
    except ValueError as e:
        raise CredentialsError(
            f"{path} is not a credentials file ({e}): remove it and sign in again"
        ) from e
    return servers


def saved(server: str) -> Saved | None:
    """The unexpired session saved for ``server``, if any."""
    path = credentials_path()
    entry = _read(path).get(server_key(server))
    if not isinstance(entry, dict):
        return None
    try:
        found = Saved(
            token=str(entry["token"]),
            login=str(entry.get("login", "")),
            expires_at=parse_time(str(entry["expires_at"])),
        )
    except (KeyError, ValueError) as e:
        raise CredentialsError(
            f"{path} is not a credentials file (the entry of {server_key(server)}: {e}): "
            "remove it and sign in again"
        ) from e
    return found if found.expires_at > datetime.now(timezone.utc) else None


def _write(path: Path, servers: dict[str, Any]) -> None:
    """Replaces the file atomically with one only its owner may read."""
    directory = path.parent
    if not directory.is_dir():
        directory.mkdir(mode=0o700, parents=True)
        os.chmod(directory, 0o700)
    text = json.dumps({"servers": servers}, indent=2, sort_keys=True) + "\n"
    # mkstemp creates the file with mode 600: never readable by others.
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".credentials.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def save(server: str, entry: Saved) -> Path:
    """Saves a session for ``server``, keeping the other servers'; returns where."""
    path = credentials_path()
    servers = _read(path)
    servers[server_key(server)] = {
        "token": entry.token,
        "login": entry.login,
        "expires_at": format_time(entry.expires_at),
    }
    try:
        _write(path, servers)
    except OSError as e:
        raise CredentialsError(f"cannot save the credentials in {path}: {e}") from e
    return path


def forget(server: str) -> None:
    """Removes the session of ``server``, if there is one."""
    path = credentials_path()
    servers = _read(path)
    if servers.pop(server_key(server), None) is not None:
        try:
            _write(path, servers)
        except OSError as e:
            raise CredentialsError(f"cannot update the credentials in {path}: {e}") from e
