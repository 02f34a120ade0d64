"""Verifying bearer JWTs: keys from the environment, Agno's claims, Agno's 401 texts.

Keys come from ``JWT_VERIFICATION_KEY`` (a PEM public key or a shared secret) or a JWKS file
(``JWT_JWKS_FILE``), are checked once at start-up (a bad key stops the server instead of
failing every request) and are each bound to one algorithm: the token's ``alg`` header never
picks it, so a token cannot downgrade an RSA key to an HMAC secret. Claims read as Agno reads
them: ``sub`` the user, ``scopes`` a list or a space-separated string, ``session_id``, ``aud``
checked when an audience is configured, ``exp`` with 10 s of leeway. A verified token is kept
in a small cache (its expiry still checked on every use) so a client reusing its token pays
for the signature check once. PyJWT is imported only when JWT mode is on.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


class KeySetupError(Exception):
    """The configured key or JWKS file cannot verify anything; the message names the setting only."""


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


@dataclass(frozen=True)
class VerificationKey:
    key: Any
    """The key as PyJWT uses it (a parsed public key, or the secret's bytes)."""
    algorithm: str
    kid: str | None = None


def infer_algorithm(key_text: str) -> str:
    """RS256 for a PEM RSA key, ES256 for a PEM EC key, EdDSA for an Ed25519 one, else HS256."""
    if "-----BEGIN" not in key_text:
        return "HS256"
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        public = load_pem_public_key(key_text.encode())
    except ValueError:
        return "RS256"  # not a public key PEM; preparing it for RS256 reports the problem
    if isinstance(public, ec.EllipticCurvePublicKey):
        return {"secp384r1": "ES384", "secp521r1": "ES512"}.get(public.curve.name, "ES256")
    if isinstance(public, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return "EdDSA"
    return "RS256"


def load_keys(*, verification_key: str | None, jwks_file: Path | None, algorithm: str | None) -> list[VerificationKey]:
    """Every key tokens may be signed with; raises ``KeySetupError`` when one is unusable or none is given."""
    import jwt

    keys: list[VerificationKey] = []
    if verification_key:
        chosen = algorithm or infer_algorithm(verification_key)
        try:
            prepared = jwt.get_algorithm_by_name(chosen).prepare_key(verification_key)
        except (jwt.InvalidKeyError, ValueError, TypeError) as error:
            raise KeySetupError(f"JWT_VERIFICATION_KEY is not a usable {chosen} key: {error}") from None
        keys.append(VerificationKey(prepared, chosen))
    if jwks_file is not None:
        keys.extend(_jwks_keys(jwks_file, algorithm))
    if not keys:
        raise KeySetupError("JWT access control needs JWT_VERIFICATION_KEY or JWT_JWKS_FILE")
    return keys


def _jwks_keys(path: Path, algorithm: str | None) -> list[VerificationKey]:
    import jwt

    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise KeySetupError(f"JWT_JWKS_FILE {path} cannot be read: {error.strerror}") from None
    except ValueError:
        raise KeySetupError(f"JWT_JWKS_FILE {path} is not JSON") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise KeySetupError(f'JWT_JWKS_FILE {path} has no "keys" list')
    keys = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise KeySetupError(f"JWT_JWKS_FILE {path}: keys[{index}] is not an object")
        if entry.get("use") == "enc":
            continue  # an encryption key verifies no signature
        try:
            jwk = jwt.PyJWK(entry, algorithm=entry.get("alg") or algorithm)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as error:
            raise KeySetupError(f"JWT_JWKS_FILE {path}: keys[{index}] is not usable: {error}") from None
        keys.append(VerificationKey(jwk.key, jwk.algorithm_name, kid=entry.get("kid")))
    return keys


class TokenVerifier:
    """Checks tokens against the keys; ``verify`` gives the ``Claims`` or raises ``TokenRejected``."""

    def __init__(
        self,
        keys: Sequence[VerificationKey],
        *,
        audience: Sequence[str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = list(keys)
        self.audience = frozenset(audience) if audience else None
        self._clock = clock
        self._cache: OrderedDict[str, Claims] = OrderedDict()

    def verify(self, token: str) -> Claims:
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
        named = [key for key in self.keys if kid is not None and key.kid == kid]
        failure: jwt.InvalidTokenError | None = None
        for key in named or self.keys:
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
