"""The allow-list every fetched URL passes: a URL it cannot read is refused, never an error of another kind."""

from __future__ import annotations

import pytest
from agentos_runtime.config import ConfigError, parse_config
from agentos_runtime.config.hosts import RefusedURL, check_url, split_host


def test_the_host_is_read_in_lower_case_with_its_port() -> None:
    assert split_host("https://Docs.Example.com:8443/guide") == ("docs.example.com", 8443)
    assert split_host("http://docs.example.com/guide") == ("docs.example.com", None)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://[::1/x", "is not a valid URL"),
        ("https://docs.example.com:99999/x", "has an invalid port"),
        ("https:///x", "has no host"),
    ],
)
def test_a_url_that_cannot_be_read_is_refused_saying_why(url: str, reason: str) -> None:
    with pytest.raises(RefusedURL, match=reason):
        check_url(url, ["docs.example.com", "[::1]"])


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (
            "http://user:s3cret@127.0.0.1:8000/v1",
            "the URL holds credentials (user:password@), which are not sent: remove them, and give the key in"
            " the API key's environment variable or Secret",
        ),
        ("http://tok@vllm:8000/v1", "the URL holds credentials"),
        ("http://vllm:8000/v1?api-version=1", "the URL holds a query or fragment"),
        ("http://vllm:8000/v1#models", "the URL holds a query or fragment"),
        ("http://vllm:8000/v1?", "the URL holds a query or fragment"),
        ("http://:8000/v1", "the URL has no host"),
        ("http://vllm:99999/v1", "the URL has an invalid port"),
        ("http://vllm:8000/v1\r\nX: y", "the URL holds a control character"),
    ],
)
def test_a_model_or_embedder_base_url_the_api_paths_cannot_follow_is_refused_without_quoting_it(
    url: str, problem: str
) -> None:
    document = {
        "models": [{"id": "m", "base_url": url, "api_key_env": None}],
        "agents": [{"id": "a", "model": "m"}],
        "knowledge_bases": [{"id": "k", "embedder": {"base_url": url, "api_key_env": None}}],
    }

    with pytest.raises(ConfigError) as raised:
        parse_config(document)

    found = [str(p) for p in raised.value.problems]
    assert [line.split(": ", 1)[0] for line in found] == ["models[0].base_url", "knowledge_bases[0].embedder.base_url"]
    assert all(problem in line and "s3cret" not in line and "vllm" not in line for line in found), found


def test_base_urls_of_every_usual_endpoint_are_accepted() -> None:
    for url in ("https://api.openai.com/v1", "http://vllm.models.svc:8000/v1", "http://[::1]:11434/v1", "http://h/"):
        parse_config({"models": [{"id": "m", "base_url": url}], "agents": [{"id": "a", "model": "m"}]})
