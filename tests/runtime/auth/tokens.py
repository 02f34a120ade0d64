"""Keys and tokens for the access-control tests: an HMAC secret, RSA and EC key pairs, JWKS files.

Keys are made once per test session (RSA generation takes a moment); ``mint`` signs a token with
the claims given, ``exp`` one hour ahead unless told otherwise.
"""

from __future__ import annotations

import json
import time
from functools import cache
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

# 48 bytes: comfortably over the 32 bytes HS256 asks of a secret.
HS_SECRET = "test-secret-for-agentos-runtime-jwt-checks-0123456789"


@cache
def rsa_private_key(name: str = "main") -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def ec_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def private_pem(private: rsa.RSAPrivateKey) -> str:
    return private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def mint(
    key: Any = HS_SECRET,
    *,
    algorithm: str = "HS256",
    sub: str | None = "alice",
    scopes: Any = None,
    expires_in: float | None = 3600,
    kid: str | None = None,
    **claims: Any,
) -> str:
    """A signed token; ``scopes=None`` leaves the claim out, ``expires_in=None`` leaves out ``exp``."""
    payload: dict[str, Any] = dict(claims)
    if sub is not None:
        payload["sub"] = sub
    if scopes is not None:
        payload["scopes"] = scopes
    if expires_in is not None:
        payload["exp"] = int(time.time() + expires_in)
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers)


def write_jwks(path: Path, keys: dict[str, rsa.RSAPrivateKey]) -> Path:
    """A JWKS file with the public half of each key under its ``kid``."""
    entries = []
    for kid, private in keys.items():
        entry = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
        entries.append({**entry, "kid": kid, "use": "sig", "alg": "RS256"})
    path.write_text(json.dumps({"keys": entries}), encoding="utf-8")
    return path


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
