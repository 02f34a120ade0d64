"""Verifying bearer JWTs: Agno's claims, Agno's 401 texts.

Keys come from ``JWT_VERIFICATION_KEY`` (a PEM public key or a shared secret) or a JWKS file
(``JWT_JWKS_FILE``, read again as its keys rotate), as ``jwt_keys`` reads them, each bound to
one algorithm. A token naming a ``kid`` the keys lack has the JWKS file read again first; when
that changes the keys, every cached verdict is dropped. Claims read as Agno reads
them: ``sub`` the user, ``scopes`` a list or a space-separated string, ``session_id``, ``aud``
checked when an audience is configured, ``exp`` with 10 s of leeway. A verified token is kept
in a small cache (its expiry still checked on every use) so a client reusing its token pays
for the signature check once. PyJWT is imported only when JWT mode is on.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentos_runtime.api.jwt_keys import JwksFile, VerificationKey
from agentos_runtime.storable import id_problem

# Agno's clock-skew allowance on ``exp`` and ``nbf``.
LEEWAY_SECONDS = 10
# Distinct tokens remembered after a successful check; the oldest are forgotten first.
CACHE_SIZE = 1024
# Subjects Agno reserves for its own principals (service accounts, scheduler, MCP clients).
RESERVED_SUBJECT_PREFIXES = ("sa:", "__oauth__:")
RESERVED_SUBJECTS = frozenset({"__scheduler__"})

EXPIRED = "Token has expired"
WRONG_AUDIENCE = "Invalid token audience - token not valid for this AgentOS instance"
MISSING_AUDIENCE = (
    'Invalid token: Token is missing the "aud" claim. '
    "Audience verification requires this claim to be present in the token."
)
RESERVED_SUBJECT = "Invalid token subject"


class TokenRejected(Exception):
    """The token is not acceptable; ``detail`` is the 401 text (never the token or a key)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, eq=False)
class Claims:
    """What a verified token says about its caller.

    Compared and hashed by identity: the verifier hands out one instance per cached token, so
    caches keyed by it cost nothing to look up.
    """

    user_id: str | None
    scopes: tuple[str, ...]
    session_id: str | None
    expires_at: float | None


class TokenVerifier:
    """Checks tokens against the keys; ``verify`` gives the ``Claims`` or raises ``TokenRejected``.

    ``keys`` are fixed (``JWT_VERIFICATION_KEY``); ``jwks``, the JWKS file's, follow the file.
    """

    def __init__(
        self,
        keys: Sequence[VerificationKey],
        *,
        audience: Sequence[str] | None = None,
        clock: Callable[[], float] = time.time,
        jwks: JwksFile | None = None,
    ) -> None:
        self._fixed = list(keys)
        self._jwks = jwks
        self.audience = frozenset(audience) if audience else None
        self._clock = clock
        self._cache: OrderedDict[str, Claims] = OrderedDict()

    @property
    def keys(self) -> list[VerificationKey]:
        """The keys a token is checked against now."""
        return [*self._fixed, *(self._jwks.keys if self._jwks is not None else ())]

    def verify(self, token: str) -> Claims:
        self._refresh(kid=None)  # keys read long ago are read again, so a withdrawn one stops verifying
        cached = self._cache.get(token)
        if cached is not None:
            if cached.expires_at is not None and self._clock() > cached.expires_at + LEEWAY_SECONDS:
                del self._cache[token]
                raise TokenRejected(EXPIRED)
            return cached
        claims = read_claims(self._decode(token), audience=self.audience)
        self._cache[token] = claims
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return claims

    def _decode(self, token: str) -> Mapping[str, Any]:
        import jwt

        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError as error:
            raise TokenRejected(f"Invalid token: {error}") from None
        self._refresh(kid)
        keys = self.keys
        named = [key for key in keys if kid is not None and key.kid == kid]
        failure: jwt.InvalidTokenError | None = None
        for key in named or keys:
            try:
                payload: dict[str, Any] = jwt.decode(
                    token,
                    key.key,
                    algorithms=[key.algorithm],
                    leeway=LEEWAY_SECONDS,
                    options={"verify_aud": False},
                )
            except jwt.ExpiredSignatureError:
                raise TokenRejected(EXPIRED) from None
            except jwt.InvalidTokenError as error:
                failure = error
                continue
            # PyJWT checks ``exp`` against its own clock; ours decides for cached tokens too.
            expires = payload.get("exp")
            if isinstance(expires, int | float) and self._clock() > expires + LEEWAY_SECONDS:
                raise TokenRejected(EXPIRED)
            return payload
        raise TokenRejected(f"Invalid token: {failure}")

    def _refresh(self, kid: object) -> None:
        """Read the JWKS file again if ``kid`` (or the keys' age) calls for it; new keys void the cache."""
        if self._jwks is not None and self._jwks.refresh(kid):
            self._cache.clear()


def read_claims(payload: Mapping[str, Any], *, audience: frozenset[str] | None) -> Claims:
    """Agno's claims from a verified payload; raises ``TokenRejected`` for a wrong audience or subject."""
    if audience is not None:
        token_audience = payload.get("aud")
        if token_audience is None:
            raise TokenRejected(MISSING_AUDIENCE)
        named = [token_audience] if isinstance(token_audience, str) else token_audience
        if not isinstance(named, list) or not audience.intersection(a for a in named if isinstance(a, str)):
            raise TokenRejected(WRONG_AUDIENCE)
    subject = payload.get("sub")
    user_id = subject if isinstance(subject, str) and subject else None
    if user_id is not None and (user_id in RESERVED_SUBJECTS or user_id.startswith(RESERVED_SUBJECT_PREFIXES)):
        raise TokenRejected(RESERVED_SUBJECT)
    session_id = payload.get("session_id")
    for claim, value in (("sub", user_id), ("session_id", session_id)):
        # The claims become stored ids: the same limits as ids sent in requests.
        problem = id_problem(value) if isinstance(value, str) else None
        if problem is not None:
            raise TokenRejected(f"Invalid token: the {claim} claim is not a usable id: {problem.message}")
    expires = payload.get("exp")
    return Claims(
        user_id=user_id,
        scopes=scope_list(payload.get("scopes")),
        session_id=session_id if isinstance(session_id, str) and session_id else None,
        expires_at=float(expires) if isinstance(expires, int | float) else None,
    )


def scope_list(value: object) -> tuple[str, ...]:
    """The ``scopes`` claim as a tuple: a list of strings, or one space-separated string."""
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list):
        return tuple(item for item in value if isinstance(item, str))
    return ()
