"""The keys that verify bearer JWTs: ``JWT_VERIFICATION_KEY``, and a JWKS file followed as it rotates.

Each key is bound to one algorithm: the token's ``alg`` header never picks it, so a token cannot
downgrade an RSA key to an HMAC secret. Keys are checked at start-up: a bad one stops the
server instead of failing every request.

Identity providers rotate keys: a new key (a new ``kid``) is published in the JWKS, tokens
signed with it follow, and later the old key is withdrawn. ``JwksFile`` follows that without a
restart. A token naming a ``kid`` the loaded keys lack makes it read the file again, at most
once per ``RELOAD_INTERVAL_SECONDS`` (tokens with made-up kids cannot make it read the file per
request), and keys read ``REFRESH_SECONDS`` ago are read again at the next token, so a withdrawn
key stops verifying even when no new kid comes. The path is opened afresh each time: Kubernetes
updates a mounted Secret by swapping a symlink (``..data``), which a held descriptor never sees.
A file that cannot be read or used during a reload leaves the keys read before in place, with a
warning naming the file (never a key): a half-written or mistaken update locks nobody out.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("agentos_runtime.auth")

# The shortest time between two reads of the JWKS file that tokens with unknown kids ask for: a
# key the provider just published verifies within it, and a flood of bogus kids costs one read.
RELOAD_INTERVAL_SECONDS = 5.0
# Keys this old are read again at the next token, whatever its kid: how long a key withdrawn from
# the file (a compromised one, say) may still verify once the file has changed.
REFRESH_SECONDS = 60.0
# JWK members holding private or secret key material: never quoted in a message.
_SECRET_MEMBERS = ("k", "d", "p", "q", "dp", "dq", "qi", "oth")
# Key types whose JWK is private when it has a "d": only the public half verifies signatures.
_ASYMMETRIC_TYPES = frozenset({"RSA", "EC", "OKP"})


class KeySetupError(Exception):
    """The configured key or JWKS file cannot verify anything; the message names the setting only."""


@dataclass(frozen=True)
class VerificationKey:
    key: Any
    """The key as PyJWT uses it (a parsed public key, or the secret's bytes)."""
    algorithm: str
    kid: str | None = None


# A PEM of a private key, of any kind (PKCS#8, PKCS#1, SEC 1, OpenSSH, encrypted).
_PRIVATE_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")


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
    """Every key tokens may be signed with, read now; raises ``KeySetupError`` when one is unusable or none is given."""
    import jwt

    keys: list[VerificationKey] = []
    if verification_key:
        chosen = algorithm or infer_algorithm(verification_key)
        if _PRIVATE_PEM.search(verification_key):
            raise KeySetupError(
                "JWT_VERIFICATION_KEY is a private key: give the server only its public half "
                "(the signer keeps the private one)"
            )
        try:
            prepared = jwt.get_algorithm_by_name(chosen).prepare_key(verification_key)
        except (jwt.InvalidKeyError, ValueError, TypeError) as error:
            raise KeySetupError(f"JWT_VERIFICATION_KEY is not a usable {chosen} key: {error}") from None
        keys.append(VerificationKey(prepared, chosen))
    if jwks_file is not None:
        keys.extend(parse_jwks(read_jwks_text(jwks_file), source=jwks_source(jwks_file), algorithm=algorithm))
    if not keys:
        raise KeySetupError("JWT access control needs JWT_VERIFICATION_KEY or JWT_JWKS_FILE")
    return keys


def jwks_source(path: Path) -> str:
    """How messages name the file: the setting and the path."""
    return f"JWT_JWKS_FILE {path}"


def read_jwks_text(path: Path) -> str:
    """The file's text, read through the path now; raises ``KeySetupError`` when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise KeySetupError(f"{jwks_source(path)} cannot be read: {error.strerror}") from None
    except UnicodeDecodeError:
        raise KeySetupError(f"{jwks_source(path)} is not UTF-8 text") from None


def parse_jwks(text: str, *, source: str, algorithm: str | None) -> list[VerificationKey]:
    """The signature keys of a JWKS document (encryption keys skipped).

    ``algorithm``, when configured, is the only one: an entry that names another is skipped.
    Raises ``KeySetupError`` naming ``source`` and the entry at fault, never quoting key material:
    not JSON, no ``keys`` list, an entry that is no object, a private key, a ``kid`` that is not
    text, a key PyJWT cannot use, or no signature key at all.
    """
    import jwt

    try:
        document = json.loads(text)
    except ValueError:
        raise KeySetupError(f"{source} is not JSON") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise KeySetupError(f'{source} has no "keys" list')
    keys = []
    for index, entry in enumerate(entries):
        where = f"{source}: keys[{index}]"
        if not isinstance(entry, dict):
            raise KeySetupError(f"{where} is not an object")
        if entry.get("use") == "enc":
            continue  # an encryption key verifies no signature
        kty = entry.get("kty")
        if not isinstance(kty, str):
            raise KeySetupError(f'{where} has no "kty" string')
        if kty in _ASYMMETRIC_TYPES and "d" in entry:
            raise KeySetupError(f'{where} is a private key (it has "d"): publish only its public half')
        kid = entry.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise KeySetupError(f'{where} has a "kid" that is not a string')
        alg = entry.get("alg")
        if alg is not None and (not isinstance(alg, str) or alg.lower() == "none"):
            raise KeySetupError(f'{where} has an "alg" that names no signature algorithm')
        if algorithm is not None and alg is not None and alg != algorithm:
            continue  # a key for another algorithm verifies nothing the configured one signs
        try:
            jwk = jwt.PyJWK(entry, algorithm=alg or algorithm)
        except Exception as error:  # PyJWT's word on an entry it cannot use, whatever its type
            raise KeySetupError(f"{where} is not usable: {_quoting_no_key(error, entry)}") from None
        keys.append(VerificationKey(jwk.key, jwk.algorithm_name, kid=kid))
    if not keys:
        wanted = f" for {algorithm}" if algorithm else ""
        raise KeySetupError(f"{source} holds no signature key{wanted} (each is for encryption or another algorithm)")
    return keys


def _quoting_no_key(error: Exception, entry: Mapping[str, Any]) -> str:
    """PyJWT's reason, unless it quotes the key's secret members (some of its messages print the whole JWK)."""
    text = f"no member {error}" if isinstance(error, KeyError) else str(error)
    secret = [str(entry[member]) for member in _SECRET_MEMBERS if entry.get(member) not in (None, "")]
    if any(value in text for value in secret):
        return "PyJWT refuses it (its message, which quotes the key, is withheld)"
    return text


def reload_due(
    *,
    kid: object,
    known: Collection[str | None],
    read_at: float,
    now: float,
    interval: float = RELOAD_INTERVAL_SECONDS,
    max_age: float = REFRESH_SECONDS,
) -> bool:
    """Whether to read the JWKS file again before checking a token whose header names ``kid``.

    Yes when the keys were read ``max_age`` ago or more, or when ``kid`` is a string none of the
    ``known`` keys has and the last read is ``interval`` old. ``kid`` None asks the first only.
    """
    age = now - read_at
    if age >= max_age:
        return True
    return isinstance(kid, str) and kid not in known and age >= interval


class JwksFile:
    """The keys of a JWKS file, read again when ``reload_due`` says so (the I/O: one read of the path).

    ``read`` reads the file's text (``read_jwks_text``), ``clock`` is a monotonic clock: both are
    parameters so tests count reads and move time instead of waiting.
    """

    def __init__(
        self,
        path: Path,
        *,
        algorithm: str | None,
        clock: Callable[[], float] = time.monotonic,
        read: Callable[[Path], str] = read_jwks_text,
    ) -> None:
        """Reads the file once; raises ``KeySetupError`` when it cannot verify anything."""
        self.path = path
        self._algorithm = algorithm
        self._clock = clock
        self._read = read
        text = read(path)
        self.keys = parse_jwks(text, source=jwks_source(path), algorithm=algorithm)
        self._kids = frozenset(key.kid for key in self.keys)
        self._digest = _digest(text)
        self._read_at = clock()

    def refresh(self, kid: object) -> bool:
        """Read the file again if a token naming ``kid`` (None: none named) calls for it.

        True when the keys changed (what was verified with the old ones is to be checked again).
        A file that cannot be read or used keeps the keys read before, with a warning.
        """
        now = self._clock()
        if not reload_due(kid=kid, known=self._kids, read_at=self._read_at, now=now):
            return False
        self._read_at = now
        try:
            text = self._read(self.path)
            digest = _digest(text)
            if digest == self._digest:
                return False
            keys = parse_jwks(text, source=jwks_source(self.path), algorithm=self._algorithm)
        except KeySetupError as error:
            log.warning("%s: keeping the %d keys read before", error, len(self.keys))
            return False
        self.keys, self._kids, self._digest = keys, frozenset(key.kid for key in keys), digest
        log.info("%s read again: %d signature keys", jwks_source(self.path), len(keys))
        return True


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
