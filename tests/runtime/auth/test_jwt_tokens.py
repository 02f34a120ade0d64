"""Verifying tokens: keys from the environment or a JWKS file, Agno's claims and 401 texts.

Time is a parameter of the verifier, so expiry is tested by moving a fake clock, not by waiting.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest
from agentos_runtime.api.jwt_keys import KeySetupError, infer_algorithm, load_keys
from agentos_runtime.api.jwt_tokens import (
    EXPIRED,
    MISSING_AUDIENCE,
    RESERVED_SUBJECT,
    WRONG_AUDIENCE,
    TokenRejected,
    TokenVerifier,
    scope_list,
)
from cryptography.hazmat.primitives.asymmetric import ec

from tests.runtime.auth.tokens import (
    HS_SECRET,
    ec_private_key,
    mint,
    private_pem,
    public_pem,
    rsa_private_key,
    write_jwks,
)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def verifier(*, key: str = HS_SECRET, audience: list[str] | None = None, clock: Clock | None = None) -> TokenVerifier:
    keys = load_keys(verification_key=key, jwks_file=None, algorithm=None)
    return TokenVerifier(keys, audience=audience, clock=clock or time.time)


def rejection(check: TokenVerifier, token: str) -> str:
    with pytest.raises(TokenRejected) as caught:
        check.verify(token)
    return caught.value.detail


def test_an_hs256_token_gives_the_subject_scopes_and_session() -> None:
    claims = verifier().verify(mint(scopes=["agents:read", "config:read"], session_id="s-1"))
    assert claims.user_id == "alice"
    assert claims.scopes == ("agents:read", "config:read")
    assert claims.session_id == "s-1"


def test_an_rs256_token_verifies_with_the_public_key() -> None:
    private = rsa_private_key()
    check = verifier(key=public_pem(private))
    assert check.keys[0].algorithm == "RS256"
    assert check.verify(mint(private, algorithm="RS256", scopes=["config:read"])).scopes == ("config:read",)


def test_an_ec_key_is_read_as_es256() -> None:
    private = ec_private_key()
    assert infer_algorithm(public_pem(private)) == "ES256"
    assert verifier(key=public_pem(private)).verify(mint(private, algorithm="ES256")).user_id == "alice"


def test_a_scopes_string_is_split_on_spaces() -> None:
    assert scope_list("agents:read  sessions:read") == ("agents:read", "sessions:read")
    assert scope_list(["config:read", 7]) == ("config:read",)
    assert scope_list(None) == ()


def test_a_token_signed_with_another_secret_is_invalid() -> None:
    detail = rejection(verifier(), mint("another-secret-that-is-long-enough-for-hs256!"))
    assert detail == "Invalid token: Signature verification failed"


def test_garbage_is_an_invalid_token() -> None:
    assert rejection(verifier(), "not-a-jwt").startswith("Invalid token: ")


def test_an_expired_token_is_rejected_with_agnos_text() -> None:
    assert rejection(verifier(), mint(expires_in=-60)) == EXPIRED


def test_a_cached_token_is_rejected_once_its_expiry_passes() -> None:
    token = mint(expires_in=60)
    clock = Clock()  # read after the mint: a pause between the two cannot put the expiry past the clock's move
    check = verifier(clock=clock)
    assert check.verify(token).user_id == "alice"
    clock.now += 60 + 11  # past exp and the 10 s leeway
    assert rejection(check, token) == EXPIRED


def test_expiry_has_ten_seconds_of_leeway() -> None:
    clock = Clock()
    token = mint(expires_in=60)
    clock.now += 65
    assert verifier(clock=clock).verify(token).user_id == "alice"


def test_the_audience_is_checked_only_when_configured() -> None:
    token = mint(aud="other-os")
    assert verifier().verify(token).user_id == "alice"
    assert rejection(verifier(audience=["my-os"]), token) == WRONG_AUDIENCE
    assert rejection(verifier(audience=["my-os"]), mint()) == MISSING_AUDIENCE
    assert verifier(audience=["my-os"]).verify(mint(aud=["x", "my-os"])).user_id == "alice"


def test_a_reserved_subject_is_refused() -> None:
    for subject in ("sa:robot", "__scheduler__", "__oauth__:client"):
        assert rejection(verifier(), mint(sub=subject)) == RESERVED_SUBJECT


@pytest.mark.parametrize(
    ("claim", "value", "words"),
    [
        ("sub", "x" * 513, "at most 512 characters"),
        ("sub", "ali\x00ce", "NUL"),
        ("session_id", "s\ud800", "lone surrogate"),
    ],
)
def test_a_subject_or_session_that_cannot_be_stored_as_an_id_is_refused(claim: str, value: str, words: str) -> None:
    detail = rejection(verifier(), mint(**{claim: value}))
    assert detail.startswith(f"Invalid token: the {claim} claim") and words in detail


def test_an_hmac_token_cannot_pass_as_rs256_with_the_public_key_as_secret() -> None:
    public = public_pem(rsa_private_key())
    # PyJWT refuses to sign with a PEM as HMAC secret, so the forgery is built by hand.
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64({'sub': 'mallory', 'scopes': ['agent_os:admin']})}"
    signature = hmac.new(public.encode(), signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    assert rejection(verifier(key=public), token) == "Invalid token: The specified alg value is not allowed"


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_jwks_keys_are_chosen_by_kid(tmp_path: Path) -> None:
    first, second = rsa_private_key("first"), rsa_private_key("second")
    jwks = write_jwks(tmp_path / "jwks.json", {"k1": first, "k2": second})
    check = TokenVerifier(load_keys(verification_key=None, jwks_file=jwks, algorithm=None))
    assert check.verify(mint(second, algorithm="RS256", kid="k2", sub="bob")).user_id == "bob"
    assert check.verify(mint(first, algorithm="RS256", kid="k1")).user_id == "alice"
    stranger = rsa_private_key("stranger")
    assert (
        rejection(check, mint(stranger, algorithm="RS256", kid="k1")) == "Invalid token: Signature verification failed"
    )


def test_no_key_at_all_is_a_setup_error() -> None:
    with pytest.raises(KeySetupError, match="needs JWT_VERIFICATION_KEY or JWT_JWKS_FILE"):
        load_keys(verification_key=None, jwks_file=None, algorithm=None)


def test_a_private_key_where_a_secret_is_expected_is_refused_without_quoting_it() -> None:
    pem = private_pem(rsa_private_key())
    with pytest.raises(KeySetupError) as caught:
        load_keys(verification_key=pem, jwks_file=None, algorithm="HS256")
    assert str(caught.value).startswith("JWT_VERIFICATION_KEY is a private key: give the server only its public half")
    assert "PRIVATE KEY" not in str(caught.value) and pem[40:80] not in str(caught.value)


@pytest.mark.parametrize("algorithm", [None, "RS256"])
@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_a_private_key_pem_is_refused_at_start_whatever_the_algorithm(kind: str, algorithm: str | None) -> None:
    """Taken as RS256 before, and every token it should verify was answered 500."""
    key = rsa_private_key() if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(
        KeySetupError, match="^JWT_VERIFICATION_KEY is a private key: give the server only its public half"
    ):
        load_keys(verification_key=private_pem(key), jwks_file=None, algorithm=algorithm)


def test_a_broken_pem_key_is_a_setup_error() -> None:
    with pytest.raises(KeySetupError, match="JWT_VERIFICATION_KEY is not a usable RS256 key"):
        load_keys(
            verification_key="-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
            jwks_file=None,
            algorithm=None,
        )


def test_an_unreadable_or_malformed_jwks_file_is_a_setup_error(tmp_path: Path) -> None:
    with pytest.raises(KeySetupError, match="cannot be read"):
        load_keys(verification_key=None, jwks_file=tmp_path / "missing.json", algorithm=None)
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(KeySetupError, match="is not JSON"):
        load_keys(verification_key=None, jwks_file=tmp_path / "bad.json", algorithm=None)
    (tmp_path / "empty.json").write_text('{"keys": []}', encoding="utf-8")
    with pytest.raises(KeySetupError, match='has no "keys" list'):
        load_keys(verification_key=None, jwks_file=tmp_path / "empty.json", algorithm=None)
    (tmp_path / "odd.json").write_text('{"keys": [{"kty": "nope"}]}', encoding="utf-8")
    with pytest.raises(KeySetupError, match=r"keys\[0\] is not usable"):
        load_keys(verification_key=None, jwks_file=tmp_path / "odd.json", algorithm=None)
