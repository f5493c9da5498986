"""What the suites share: each test's own configuration directory (so that
credentials files do not meet), and the world the harness prepared
(``SLIPWAY_CLIENT_TEST_CONFIG``, see crates/cli/tests/black_box/clients.rs)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# No __pycache__ beside the sources, whatever PYTHONDONTWRITEBYTECODE says:
# src/slipway/rest must stay exactly what ./generate writes (a test diffs
# the two).
sys.dont_write_bytecode = True


@pytest.fixture(autouse=True)
def own_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test signs in under its own XDG_CONFIG_HOME, with neither
    SLIPWAY_URL nor SLIPWAY_TOKEN set unless it sets them."""
    config = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.delenv("SLIPWAY_URL", raising=False)
    monkeypatch.delenv("SLIPWAY_TOKEN", raising=False)
    return config


@dataclass(frozen=True)
class World:
    """The world the harness made: a real server and a fake GitHub."""

    server: str
    admin_token: str
    slipway: str
    users: dict[str, str]
    device_user: str
    organization: str
    cluster: str
    other_cluster: str
    cluster_token_ttl_seconds: int
    blueprint: str
    failing_blueprint: str

    @classmethod
    def load(cls, path: str) -> World:
        data: dict[str, Any] = json.loads(Path(path).read_text())
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


@pytest.fixture(scope="session")
def world() -> World:
    path = os.environ.get("SLIPWAY_CLIENT_TEST_CONFIG")
    if not path:
        pytest.skip("needs the world of crates/cli/tests/black_box/clients.rs")
    return World.load(path)
