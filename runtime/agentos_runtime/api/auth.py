"""Security-key authentication, as Agno's AgentOS does it with ``OS_SECURITY_KEY``.

Protected routers depend on ``require_security_key``; public routes (``/``, ``/health``,
``/info``, the docs) simply do not. The 401 texts are Agno's, word for word, because its
clients and UI show them to users. The comparison is constant-time so the position of a
mismatch cannot be measured.
"""

from __future__ import annotations

import hmac
from typing import Literal

from fastapi import HTTPException, Request

AuthMode = Literal["none", "security_key"]

MISSING_HEADER = "Authorization header required"
INVALID_TOKEN = "Invalid authentication token"


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; ``None`` for any other header."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def check_security_key(expected: str | None, authorization: str | None) -> None:
    """Raise 401 unless ``authorization`` carries ``expected``; no key configured lets everyone in."""
    if expected is None:
        return
    token = bearer_token(authorization)
    if token is None:
        raise HTTPException(status_code=401, detail=MISSING_HEADER)
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise HTTPException(status_code=401, detail=INVALID_TOKEN)


async def require_security_key(request: Request) -> None:
    """Router dependency: the caller presents the configured security key."""
    check_security_key(request.app.state.security_key, request.headers.get("authorization"))


def auth_mode(security_key: str | None) -> AuthMode:
    return "security_key" if security_key is not None else "none"
