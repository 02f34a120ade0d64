"""Apps for the access-control tests: a config with something to filter, served in JWT mode.

``auth_config`` declares two agents, two teams and two workflows on the fake model, with an
optional ``authorization`` block; ``jwt_app`` serves it with the HMAC test secret as the
verification key (in process, in-memory storage unless a backend is named).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import yaml

from tests.runtime.api.harness import Served, serve, serve_on
from tests.runtime.auth.tokens import HS_SECRET

UNREACHABLE_MODEL = "http://127.0.0.1:9/v1"


def auth_config(base_url: str = UNREACHABLE_MODEL, **authorization: Any) -> str:
    document: dict[str, Any] = {
        "os_id": "auth-os",
        "models": [{"id": "fake", "model": "fake-model", "base_url": base_url, "api_key_env": None, "max_retries": 0}],
        "agents": [{"id": "assistant", "name": "Assistant"}, {"id": "second", "name": "Second"}],
        "teams": [{"id": "team-a", "members": ["assistant"]}, {"id": "team-b", "members": ["second"]}],
        "workflows": [
            {"id": "flow-a", "steps": [{"name": "one", "agent": "assistant"}]},
            {"id": "flow-b", "steps": [{"name": "one", "agent": "second"}]},
        ],
    }
    if authorization:
        document["authorization"] = authorization
    return yaml.safe_dump(document)


@asynccontextmanager
async def jwt_app(
    tmp_path: Path, config_text: str | None = None, *, backend: str | None = None, **settings: Any
) -> AsyncIterator[Served]:
    """``config_text`` served with a JWT key (the HMAC test secret unless ``settings`` name one)."""
    settings.setdefault("jwt_verification_key", HS_SECRET)
    text = config_text or auth_config()
    if backend is None:
        async with serve(text, data_dir=tmp_path, **settings) as served:
            yield served
        return
    async with serve_on(backend, text, tmp_path, **settings) as served:
        yield served
