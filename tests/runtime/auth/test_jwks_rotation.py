"""Key rotation without a restart: the JWKS file is read again when tokens name a kid it lacked.

The verifier's reload clock and file reader are parameters: tests move the clock and count the
reads instead of waiting. The file is rewritten the way Kubernetes updates a mounted Secret
where that matters (a new directory, then the ``..data`` symlink swapped over to it).
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from agentos_runtime.api import authz
from agentos_runtime.api.jwt_keys import (
    REFRESH_SECONDS,
    RELOAD_INTERVAL_SECONDS,
    JwksFile,
    KeySetupError,
    parse_jwks,
    read_jwks_text,
    reload_due,
)
from agentos_runtime.api.jwt_tokens import TokenRejected, TokenVerifier
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.runtime.auth.apps import jwt_app
from tests.runtime.auth.tokens import bearer, mint, rsa_private_key, write_jwks

SIGNATURE_FAILED = "Invalid token: Signature verification failed"


class MonotonicClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingReader:
    """``read_jwks_text``, counting the reads."""

    def __init__(self) -> None:
        self.reads = 0

    def __call__(self, path: Path) -> str:
        self.reads += 1
        return read_jwks_text(path)


def signed(private: rsa.RSAPrivateKey, kid: str, **claims: Any) -> str:
    return mint(private, algorithm="RS256", kid=kid, **claims)


def first() -> rsa.RSAPrivateKey:
    return rsa_private_key("rotation-first")


def second() -> rsa.RSAPrivateKey:
    return rsa_private_key("rotation-second")


@pytest.fixture
def clock() -> MonotonicClock:
    return MonotonicClock()


@pytest.fixture
def reader() -> CountingReader:
    return CountingReader()


@pytest.fixture
def jwks_path(tmp_path: Path) -> Path:
    return write_jwks(tmp_path / "jwks.json", {"k1": first()})


@pytest.fixture
def verifier(jwks_path: Path, clock: MonotonicClock, reader: CountingReader) -> TokenVerifier:
    return TokenVerifier([], jwks=JwksFile(jwks_path, algorithm=None, clock=clock, read=reader))


def rejection(check: TokenVerifier, token: str) -> str:
    with pytest.raises(TokenRejected) as caught:
        check.verify(token)
    return caught.value.detail


def test_a_key_added_to_the_file_after_start_verifies_once_the_interval_has_passed(
    verifier: TokenVerifier, jwks_path: Path, clock: MonotonicClock
) -> None:
    write_jwks(jwks_path, {"k1": first(), "k2": second()})
    clock.now += RELOAD_INTERVAL_SECONDS
    assert verifier.verify(signed(second(), "k2", sub="bob")).user_id == "bob"
    assert verifier.verify(signed(first(), "k1")).user_id == "alice"


def test_a_key_removed_from_the_file_stops_verifying_after_a_reload_even_a_cached_token(
    verifier: TokenVerifier, jwks_path: Path, clock: MonotonicClock
) -> None:
    old_token = signed(first(), "k1")
    assert verifier.verify(old_token).user_id == "alice"  # and now cached
    write_jwks(jwks_path, {"k2": second()})
    clock.now += RELOAD_INTERVAL_SECONDS
    assert verifier.verify(signed(second(), "k2", sub="bob")).user_id == "bob"  # the new kid reloads
    assert rejection(verifier, old_token) == SIGNATURE_FAILED


def test_a_withdrawn_key_stops_verifying_once_the_keys_are_old_even_without_a_new_kid(
    verifier: TokenVerifier, jwks_path: Path, clock: MonotonicClock
) -> None:
    token = signed(first(), "k1")
    assert verifier.verify(token).user_id == "alice"
    write_jwks(jwks_path, {"k2": second()})
    clock.now += REFRESH_SECONDS - 1
    assert verifier.verify(token).user_id == "alice"
    clock.now += 1
    assert rejection(verifier, token) == SIGNATURE_FAILED


def test_a_burst_of_unknown_kids_reads_the_file_at_most_once_per_interval(
    verifier: TokenVerifier, clock: MonotonicClock, reader: CountingReader
) -> None:
    assert reader.reads == 1  # at start
    clock.now += RELOAD_INTERVAL_SECONDS
    for number in range(200):
        assert rejection(verifier, signed(second(), f"bogus-{number}")) == SIGNATURE_FAILED
    assert reader.reads == 2
    clock.now += RELOAD_INTERVAL_SECONDS - 0.5
    for number in range(200):
        rejection(verifier, signed(second(), f"more-{number}"))
    assert reader.reads == 2
    clock.now += 0.5
    rejection(verifier, signed(second(), "later"))
    assert reader.reads == 3


def test_known_kids_and_tokens_without_a_kid_read_nothing_within_the_refresh_age(
    verifier: TokenVerifier, clock: MonotonicClock, reader: CountingReader
) -> None:
    clock.now += REFRESH_SECONDS - 1
    verifier.verify(signed(first(), "k1"))
    verifier.verify(mint(first(), algorithm="RS256", sub="carol"))
    assert reader.reads == 1


@pytest.mark.parametrize(
    ("breakage", "words"),
    [
        ("missing", "cannot be read"),
        ("{", "is not JSON"),
        ('{"keys": []}', 'has no "keys" list'),
        ('{"keys": [{"kty": "oct", "k": "c2VjcmV0LXNoYXJlZC1rZXk", "alg": "HS999", "kid": "k9"}]}', "keys[0]"),
        ('{"keys": [{"kty": "oct", "k": "c2VjcmV0LXNoYXJlZC1rZXk", "alg": "none", "kid": "k9"}]}', "keys[0]"),
        ('{"keys": [{"kty": ["RSA"], "kid": "k9"}]}', "keys[0]"),
        (b"\xff\xfe", "is not UTF-8 text"),
    ],
    ids=["missing", "not-json", "no-keys", "unusable-key", "alg-none", "kty-list", "not-utf8"],
)
def test_a_file_broken_during_a_reload_keeps_the_keys_read_before(
    verifier: TokenVerifier,
    jwks_path: Path,
    clock: MonotonicClock,
    caplog: pytest.LogCaptureFixture,
    breakage: str | bytes,
    words: str,
) -> None:
    if breakage == "missing":
        jwks_path.unlink()
    elif isinstance(breakage, bytes):
        jwks_path.write_bytes(breakage)
    else:
        jwks_path.write_text(breakage, encoding="utf-8")
    clock.now += RELOAD_INTERVAL_SECONDS
    with caplog.at_level(logging.WARNING, logger="agentos_runtime.auth"):
        assert rejection(verifier, signed(second(), "k2")) == SIGNATURE_FAILED
        assert verifier.verify(signed(first(), "k1")).user_id == "alice"
    assert f"JWT_JWKS_FILE {jwks_path}" in caplog.text and words in caplog.text
    assert "keeping the 1 keys read before" in caplog.text
    assert "c2VjcmV0LXNoYXJlZC1rZXk" not in caplog.text


def test_a_file_repaired_after_a_broken_reload_is_taken_at_the_next_one(
    verifier: TokenVerifier, jwks_path: Path, clock: MonotonicClock
) -> None:
    jwks_path.write_text("{", encoding="utf-8")
    clock.now += RELOAD_INTERVAL_SECONDS
    rejection(verifier, signed(second(), "k2"))
    write_jwks(jwks_path, {"k2": second()})
    clock.now += RELOAD_INTERVAL_SECONDS
    assert verifier.verify(signed(second(), "k2", sub="bob")).user_id == "bob"


def kubernetes_volume(directory: Path, version: str, keys: dict[str, rsa.RSAPrivateKey]) -> Path:
    """Publish ``keys`` as the kubelet updates a Secret volume: a new timestamped directory, then
    ``..data`` swapped over to it by a rename; ``jwks.json`` is a symlink through ``..data``."""
    (directory / version).mkdir(parents=True)
    write_jwks(directory / version / "jwks.json", keys)
    (directory / "..data_tmp").symlink_to(version)
    os.replace(directory / "..data_tmp", directory / "..data")
    link = directory / "jwks.json"
    if not link.is_symlink():
        link.symlink_to("..data/jwks.json")
    return link


def test_a_secret_volume_update_by_symlink_swap_is_followed(tmp_path: Path, clock: MonotonicClock) -> None:
    path = kubernetes_volume(tmp_path / "volume", "..2026_01_01_00_00_00.1", {"k1": first()})
    check = TokenVerifier([], jwks=JwksFile(path, algorithm=None, clock=clock))
    assert check.verify(signed(first(), "k1")).user_id == "alice"
    kubernetes_volume(tmp_path / "volume", "..2026_01_01_00_05_00.2", {"k2": second()})
    clock.now += RELOAD_INTERVAL_SECONDS
    assert check.verify(signed(second(), "k2", sub="bob")).user_id == "bob"
    assert rejection(check, signed(first(), "k1", sub="dave")) == SIGNATURE_FAILED


def test_the_reload_decision() -> None:
    decide = functools.partial(reload_due, known={"k1"}, read_at=100.0, interval=5.0, max_age=60.0)
    assert decide(kid="k2", now=105.0) is True
    assert decide(kid="k2", now=104.9) is False
    assert decide(kid="k1", now=150.0) is False
    assert decide(kid=None, now=150.0) is False
    assert decide(kid=None, now=160.0) is True
    assert decide(kid=7, now=110.0) is False  # not a kid any file could hold
    assert decide(kid=["k2"], now=110.0) is False


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"kty": "oct", "k": "c2VjcmV0LXNoYXJlZC1rZXk", "alg": "HS999"}, "withheld"),
        ({"kty": "oct", "alg": "HS256"}, "is not usable: no member 'k'"),
        ({"kty": "RSA", "n": "AQAB", "e": "AQAB", "d": "c2VjcmV0LXByaXZhdGU"}, "is a private key"),
        ({"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": 5}, '"kid" that is not a string'),
        ({"kty": "oct", "k": "c2VjcmV0LXNoYXJlZC1rZXk", "alg": "none", "kid": "k9"}, "names no signature algorithm"),
        ({"kty": "oct", "k": "c2VjcmV0LXNoYXJlZC1rZXk", "alg": ["HS256"]}, "names no signature algorithm"),
        ({"kty": ["RSA"], "kid": "k9"}, 'has no "kty" string'),
        ({"kid": "k9"}, 'has no "kty" string'),
    ],
    ids=["unknown-alg", "no-k", "private", "kid-not-text", "alg-none", "alg-not-text", "kty-not-text", "no-kty"],
)
def test_a_jwks_entry_that_cannot_verify_is_refused_without_quoting_its_key(entry: dict[str, Any], words: str) -> None:
    with pytest.raises(KeySetupError) as caught:
        parse_jwks(json.dumps({"keys": [entry]}), source="JWT_JWKS_FILE /x", algorithm=None)
    message = str(caught.value)
    assert message.startswith("JWT_JWKS_FILE /x: keys[0]") and words in message
    assert "c2VjcmV0" not in message


def test_a_jwks_of_encryption_keys_only_is_refused() -> None:
    document = {"keys": [{"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"}]}
    with pytest.raises(KeySetupError, match="holds no signature key"):
        parse_jwks(json.dumps(document), source="JWT_JWKS_FILE /x", algorithm=None)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token_with_header(private: rsa.RSAPrivateKey, header: dict[str, Any]) -> str:
    """An RS256 token, truly signed, whose header PyJWT would refuse to write."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps({'sub': 'mallory'}).encode())}"
    algorithm = jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA256)
    return f"{signing_input}.{b64(algorithm.sign(signing_input.encode(), private))}"


HOSTILE_KIDS = {
    "huge": "k" * 200_000,
    "nul": "k1\x00",
    "lone-surrogate": "k\ud800",
    "number": 1,
    "list": ["k1"],
    "object": {"kid": "k1"},
    "null": None,
    "true": True,
}


@dataclass
class ServedFile:
    """How the served app reads its JWKS file: through ``reader``, on ``clock``."""

    reader: CountingReader
    clock: MonotonicClock


@pytest.fixture
def served_file(monkeypatch: pytest.MonkeyPatch, clock: MonotonicClock, reader: CountingReader) -> ServedFile:
    monkeypatch.setattr(authz, "JwksFile", functools.partial(JwksFile, clock=clock, read=reader))
    return ServedFile(reader, clock)


@pytest.mark.parametrize("kid", list(HOSTILE_KIDS.values()), ids=list(HOSTILE_KIDS))
async def test_a_hostile_kid_is_401_not_an_error(tmp_path: Path, kid: object, served_file: ServedFile) -> None:
    jwks = write_jwks(tmp_path / "jwks.json", {"k1": first()})
    async with jwt_app(tmp_path, jwt_verification_key=None, jwt_jwks_file=jwks) as app:
        served_file.clock.now += RELOAD_INTERVAL_SECONDS
        stranger = token_with_header(second(), {"alg": "RS256", "typ": "JWT", "kid": kid})
        response = await app.client.get("/config", headers=bearer(stranger))
        assert response.status_code == 401, response.text
        assert response.json()["detail"].startswith("Invalid token")
        # Signed by the file's key: a kid no key has tries every key, as before (403: no scopes).
        known = token_with_header(first(), {"alg": "RS256", "typ": "JWT", "kid": kid})
        assert (await app.client.get("/config", headers=bearer(known))).status_code in (401, 403)
    assert served_file.reader.reads <= 2


async def test_a_served_app_takes_a_key_published_after_it_started(tmp_path: Path, served_file: ServedFile) -> None:
    jwks = write_jwks(tmp_path / "jwks.json", {"k1": first()})
    async with jwt_app(tmp_path, jwt_verification_key=None, jwt_jwks_file=jwks) as app:
        new_token = signed(second(), "k2", scopes=["config:read"])
        assert (await app.client.get("/config", headers=bearer(new_token))).status_code == 401
        write_jwks(jwks, {"k1": first(), "k2": second()})
        served_file.clock.now += RELOAD_INTERVAL_SECONDS
        assert (await app.client.get("/config", headers=bearer(new_token))).status_code == 200
        assert served_file.reader.reads == 2


def test_with_an_algorithm_configured_a_jwks_key_for_another_is_not_taken() -> None:
    """A shared secret beside the RSA keys verifies no HS256 token when RS256 is the algorithm."""
    shared = {"kty": "oct", "k": "c2VjcmV0LXNoYXJlZC1rZXktb2YtMzItYnl0ZXMhIQ", "alg": "HS256", "kid": "hs"}
    rsa_entry = {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(first().public_key())), "alg": "RS256", "kid": "k1"}
    document = json.dumps({"keys": [shared, rsa_entry]})

    pinned = parse_jwks(document, source="JWT_JWKS_FILE /x", algorithm="RS256")
    unpinned = parse_jwks(document, source="JWT_JWKS_FILE /x", algorithm=None)

    assert [(key.kid, key.algorithm) for key in pinned] == [("k1", "RS256")]
    assert [(key.kid, key.algorithm) for key in unpinned] == [("hs", "HS256"), ("k1", "RS256")]
    with pytest.raises(KeySetupError, match="holds no signature key for ES256"):
        parse_jwks(document, source="JWT_JWKS_FILE /x", algorithm="ES256")
