"""Security-key authentication, as Agno's AgentOS does it with ``OS_SECURITY_KEY``.

``authz.authorize`` (the dependency of every protected router) calls ``check_security_key``
when the app runs in security-key mode; public routes (``/``, ``/health``, ``/ready``,
``/info``, the docs) do not depend on it. The 401 texts are Agno's, word for word, because its
clients and UI show them to users. The comparison is constant-time so the position of a
mismatch cannot be measured.
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException

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
