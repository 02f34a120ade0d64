"""Reading the values a resource references: each missing or unusable one is named, no value ever."""

from __future__ import annotations

import pytest
from agentos_operator import conditions
from agentos_operator.kube.secrets import UnresolvedSecretsError, read_secret_values

from tests.operator.offline.inputs import Secrets


async def test_text_values_are_read() -> None:
    store = Secrets(openai={"api-key": "sk-é".encode()})

    assert await read_secret_values(store, "ns", [("openai", "api-key")]) == {("openai", "api-key"): "sk-é"}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (b"\xff\xfe\x00binary\x80", "is not UTF-8 text (byte 1 of it)"),
        (b"sk-ok\x00tail", "holds a NUL character (at character 6)"),
    ],
)
async def test_a_value_no_environment_variable_can_carry_is_named_as_such_without_the_value(
    value: bytes, why: str
) -> None:
    store = Secrets(binsec={"api-key": value})

    with pytest.raises(UnresolvedSecretsError) as caught:
        await read_secret_values(store, "ns", [("binsec", "api-key"), ("gone", "uri")])  # type: ignore[arg-type]

    assert str(caught.value) == (
        f"Secret 'gone' not found; key 'api-key' of Secret 'binsec' {why}: "
        "store the value as text (it becomes an environment variable)"
    )
    assert "binary" not in str(caught.value) and "tail" not in str(caught.value)
    assert caught.value.reason == conditions.SECRET_NOT_FOUND  # the Secret missing is said first


@pytest.mark.parametrize("value", [b"\xff\xfe\x00binary\x80", b"sk-ok\x00tail"])
async def test_a_key_that_is_there_with_an_unusable_value_is_no_missing_key(value: bytes) -> None:
    store = Secrets(binsec={"api-key": value}, openai={"api-key": b"sk-1"})

    with pytest.raises(UnresolvedSecretsError) as caught:
        await read_secret_values(store, "ns", [("binsec", "api-key"), ("openai", "api-key")])  # type: ignore[arg-type]

    assert caught.value.reason == conditions.SECRET_VALUE_INVALID == "SecretValueInvalid"
    with pytest.raises(UnresolvedSecretsError) as both:
        await read_secret_values(store, "ns", [("binsec", "api-key"), ("openai", "uri")])  # type: ignore[arg-type]
    assert both.value.reason == conditions.SECRET_KEY_MISSING  # a key missing too: said as the worse


async def test_a_missing_key_is_still_a_missing_key() -> None:
    with pytest.raises(UnresolvedSecretsError, match="^Secret 'openai' has no key 'api-key'; it holds no key: add it$"):
        await read_secret_values(Secrets(openai={}), "ns", [("openai", "api-key")])  # type: ignore[arg-type]


async def test_a_key_the_watch_has_not_told_yet_is_read_from_the_secret_as_it_is_now() -> None:
    # A key added to the Secret in the same sync as the resource that reads it: the resource's
    # event came first, and the store still holds the Secret without it.
    store = Secrets(openai={"api-key": b"sk-old"}, now={"openai": {"api-key": b"sk-new", "uri": b"https://x"}})

    values = await read_secret_values(store, "ns", [("openai", "api-key"), ("openai", "uri")])  # type: ignore[arg-type]

    assert values == {("openai", "api-key"): "sk-new", ("openai", "uri"): "https://x"}
    assert store.fresh_reads == ["openai"]


async def test_a_key_missing_now_too_is_missing_after_one_fresh_read() -> None:
    store = Secrets(openai={"api-key": b"sk-1"})

    with pytest.raises(UnresolvedSecretsError) as caught:
        await read_secret_values(store, "ns", [("openai", "uri")], mounted=[("openai", "ca")])  # type: ignore[arg-type]

    assert caught.value.missing_keys == [("openai", "uri"), ("openai", "ca")]
    assert caught.value.held_keys == {"openai": ["api-key"]}
    assert store.fresh_reads == ["openai"]


async def test_a_secret_found_in_the_store_without_a_fresh_read_when_every_key_is_there() -> None:
    store = Secrets(openai={"api-key": b"sk-1"})

    await read_secret_values(store, "ns", [("openai", "api-key")])  # type: ignore[arg-type]

    assert store.fresh_reads == []


async def test_the_secrets_of_a_spec_just_edited_are_read_as_they_are_now_whatever_the_watch_told() -> None:
    # A value rotated in the same sync as an edit of the resource, whose event came first: read
    # fresh, both changes roll the pods once.
    store = Secrets(openai={"api-key": b"sk-old"}, now={"openai": {"api-key": b"sk-new"}})

    stale = await read_secret_values(store, "ns", [("openai", "api-key")])  # type: ignore[arg-type]
    fresh = await read_secret_values(store, "ns", [("openai", "api-key")], fresh=True)  # type: ignore[arg-type]

    assert (stale, fresh) == ({("openai", "api-key"): "sk-old"}, {("openai", "api-key"): "sk-new"})
    assert store.fresh_reads == ["openai"]  # the edited spec's read only
