"""Who is calling and what it may do: the one dependency every protected router runs.

``authorize`` answers each protected request by the app's ``AccessPolicy``, in Agno's order of
precedence: JWT when a key is configured (``JWT_VERIFICATION_KEY`` / ``JWT_JWKS_FILE``; a
security key is then ignored), else the security key, else nobody is asked anything. In JWT
mode it verifies the token (401 with Agno's texts), checks the route's scopes (403 ``Insufficient
permissions. Required scope(s): ...``) and returns the ``Caller``, which routes take as
``CallerDep`` (FastAPI computes it once per request) to filter listings to what the caller may
read and, with user isolation, to force a non-admin's ``user_id`` to its token's ``sub``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Annotated, Literal, TypeVar

from fastapi import Depends, HTTPException, Request

from agentos_runtime.api import scopes as rules
from agentos_runtime.api.auth import check_security_key
from agentos_runtime.api.forms import before_body
from agentos_runtime.api.jwt_keys import JwksFile, KeySetupError, load_keys
from agentos_runtime.api.jwt_tokens import Claims, TokenRejected, TokenVerifier
from agentos_runtime.config import DEFAULT_ADMIN_SCOPE, RuntimeConfig
from agentos_runtime.settings import Settings
from agentos_runtime.storage.ports import SessionStore

AuthMode = Literal["none", "security_key", "jwt"]
T = TypeVar("T")

log = logging.getLogger("agentos_runtime.auth")

MISSING_TOKEN = "Authorization header missing"
MISSING_USER_IDENTITY = "Authenticated request is missing a user identity"
SESSION_NOT_FOUND = "Session not found"
_PATH_PARAM = re.compile(r"\{[^}]+\}")


@dataclass(frozen=True)
class AccessPolicy:
    """How this app authenticates and authorizes; built once at start-up."""

    mode: AuthMode
    security_key: str | None = None
    verifier: TokenVerifier | None = None
    admin_scope: str = DEFAULT_ADMIN_SCOPE
    user_isolation: bool = False


def build_access_policy(settings: Settings, config: RuntimeConfig, *, os_id: str) -> AccessPolicy:
    """The policy the settings and config ask for; raises ``KeySetupError`` for a JWT setup that
    cannot verify tokens (no key, a bad key, an unreadable JWKS file)."""
    authorization = config.authorization
    jwt_key = settings.jwt_verification_key.get_secret_value() if settings.jwt_verification_key else None
    if jwt_key is None and settings.jwt_jwks_file is None:
        if authorization is not None:
            raise KeySetupError("the authorization block needs JWT_VERIFICATION_KEY or JWT_JWKS_FILE")
        key = settings.security_key
        return AccessPolicy(mode="security_key", security_key=key) if key is not None else AccessPolicy(mode="none")
    if settings.security_key is not None:
        log.warning("both a JWT key and OS_SECURITY_KEY are set: only JWTs are accepted")
    algorithm = authorization.algorithm if authorization is not None else None
    keys = load_keys(verification_key=jwt_key, jwks_file=None, algorithm=algorithm) if jwt_key is not None else []
    jwks_file = settings.jwt_jwks_file
    jwks = JwksFile(jwks_file, algorithm=algorithm) if jwks_file is not None else None
    audience: list[str] | None = None
    if authorization is not None:
        audience = authorization.audience or ([os_id] if authorization.verify_audience else None)
    return AccessPolicy(
        mode="jwt",
        verifier=TokenVerifier(keys, audience=audience, jwks=jwks),
        admin_scope=authorization.admin_scope if authorization is not None else DEFAULT_ADMIN_SCOPE,
        user_isolation=authorization.user_isolation if authorization is not None else False,
    )


@dataclass(frozen=True)
class Caller:
    """The caller of one request. Without JWT mode it is ``UNRESTRICTED``: it may do anything."""

    user_id: str | None = None
    scopes: tuple[rules.Scope, ...] = ()
    admin: bool = True
    """Holds the admin scope, or no JWT is asked for: every check passes, nothing is filtered."""
    isolated: bool = False
    """User isolation applies: the caller's ``user_id`` replaces any one it asks for."""
    session_id: str | None = field(default=None, compare=False)

    def visible_ids(self, kind: rules.ResourceKind) -> frozenset[str]:
        """Ids of ``kind`` the caller may read; ``{"*"}`` for all."""
        if self.admin:
            return frozenset({rules.WILDCARD})
        return rules.accessible_ids(self.scopes, kind, action="read")

    def visible(self, kind: rules.ResourceKind, items: Iterable[T], id_of: Callable[[T], str]) -> list[T]:
        """``items`` the caller may read (for ``/config``, which lists without refusing)."""
        ids = self.visible_ids(kind)
        return list(items) if rules.WILDCARD in ids else [item for item in items if id_of(item) in ids]

    def listing(self, kind: rules.ResourceKind, items: Iterable[T], id_of: Callable[[T], str]) -> list[T]:
        """``GET /agents|teams|workflows``: the visible items; 403 when the caller may read none."""
        if not self.visible_ids(kind):
            raise HTTPException(status_code=403, detail=rules.insufficient_permissions([f"{kind}:read"]))
        return self.visible(kind, items, id_of)

    def may_run(self, kind: Literal["agents", "teams"], resource_id: str) -> bool:
        """Whether the caller may run the agent or team ``resource_id``, as ``POST /<kind>/<id>/runs`` checks."""
        return self.admin or rules.grants(self.scopes, f"{kind}:run", kind=kind, resource_id=resource_id)

    def scoped_user_id(self, requested: str | None) -> str | None:
        """The ``user_id`` a session or memory route must use: the caller's own under isolation
        (403 when its token has no ``sub``), else ``requested``."""
        if not self.isolated:
            return requested
        if self.user_id is None:
            raise HTTPException(status_code=403, detail=MISSING_USER_IDENTITY)
        return self.user_id

    def run_user_id(self, requested: str | None) -> str | None:
        """A run's ``user_id``: a token's ``sub`` wins over the form's, as in Agno."""
        if self.isolated:
            return self.scoped_user_id(requested)
        return self.user_id or requested

    def run_session_id(self, requested: str | None) -> str | None:
        """A run's ``session_id``: a token's ``session_id`` claim wins over the form's."""
        return self.session_id or requested


UNRESTRICTED = Caller()


@lru_cache(maxsize=1024)
def caller_for(claims: Claims, *, admin_scope: str, user_isolation: bool) -> Caller:
    """The ``Caller`` a verified token describes (cached: a client reuses its token)."""
    held = rules.parse_scopes(claims.scopes, admin_scope=admin_scope)
    admin = rules.is_admin(held)
    return Caller(
        user_id=claims.user_id,
        scopes=held,
        admin=admin,
        isolated=user_isolation and not admin,
        session_id=claims.session_id,
    )


@lru_cache(maxsize=512)
def route_scopes(method: str, template: str) -> tuple[str, ...]:
    """The scopes a route requires, looked up once per route template (``{param}`` spans one segment)."""
    return rules.required_scopes(method, _PATH_PARAM.sub("_", template))


def check_route(caller: Caller, method: str, template: str, path: str) -> None:
    """Raise 403 unless ``caller`` holds the route's scopes.

    A ``GET`` listing of agents, teams or workflows is let through without the family's global
    scope, as in Agno: the route lists what the caller's per-id scopes show (``Caller.listing``).
    """
    if caller.admin:
        return
    required = route_scopes(method, template)
    if not required or rules.grants_all(caller.scopes, required, path=path):
        return
    kind, resource_id = rules.resource_of(path)
    if method == "GET" and kind is not None and resource_id is None and required[0].startswith(f"{kind}:"):
        return
    raise HTTPException(status_code=403, detail=rules.insufficient_permissions(required))


def jwt_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization`` header: ``Bearer <token>`` or the bare token, as Agno reads it."""
    if not authorization:
        return None
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip() or None
    return authorization.strip() or None


_CALLER = "agentos.caller"


@before_body
async def authorize(request: Request) -> Caller:
    """Router dependency: authenticate the caller and check the route's scopes (before the
    body is read, ``forms.before_body``: once per request, the caller kept on its scope)."""
    known = request.scope.get(_CALLER)
    if isinstance(known, Caller):
        return known
    caller = await _authorize(request)
    request.scope[_CALLER] = caller
    return caller


async def _authorize(request: Request) -> Caller:
    policy: AccessPolicy = request.app.state.access_policy
    if policy.mode == "none":
        return UNRESTRICTED
    authorization = request.headers.get("authorization")
    if policy.mode == "security_key":
        check_security_key(policy.security_key, authorization)
        return UNRESTRICTED
    assert policy.verifier is not None
    token = jwt_token(authorization)
    if token is None:
        raise HTTPException(status_code=401, detail=MISSING_TOKEN)
    try:
        claims = policy.verifier.verify(token)
    except TokenRejected as rejected:
        raise HTTPException(status_code=401, detail=rejected.detail) from None
    caller = caller_for(claims, admin_scope=policy.admin_scope, user_isolation=policy.user_isolation)
    route = request.scope.get("route")
    template = getattr(route, "path", None) or request.scope["path"]
    check_route(caller, request.method, template, request.scope["path"])
    return caller


CallerDep = Annotated[Caller, Depends(authorize)]


async def check_session_owner(sessions: SessionStore | None, session_id: str, caller: Caller) -> None:
    """Under user isolation, refuse a run into a session another user owns (404, as Agno does).

    A session nobody owns, or that does not exist yet, is open to the run.
    """
    if not caller.isolated or sessions is None:
        return
    row = await sessions.get_session(session_id)
    if row is not None and row.user_id is not None and row.user_id != caller.user_id:
        raise HTTPException(status_code=404, detail=SESSION_NOT_FOUND)
