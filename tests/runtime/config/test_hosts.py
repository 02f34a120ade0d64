"""The allow-list every fetched URL passes: a URL it cannot read is refused, never an error of another kind."""

from __future__ import annotations

from ipaddress import ip_address

import pytest
from agentos_runtime.config import ConfigError, parse_config
from agentos_runtime.config.hosts import RefusedURL, address_refusal, check_url, connect_refusal, split_host


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


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("169.254.169.254", "is a link-local address (169.254.0.0/16, where cloud metadata services answer)"),
        ("169.254.0.1", "is a link-local address (169.254.0.0/16"),
        ("fe80::1", "is a link-local address (fe80::/10"),
        ("febf::1", "is a link-local address (fe80::/10"),
        ("::ffff:169.254.169.254", "is an IPv4-mapped form of 169.254.169.254, a link-local address"),
        ("::ffff:0.0.0.0", "is an IPv4-mapped form of 0.0.0.0, the unspecified address"),
        ("fd00:ec2::254", "is a cloud metadata service address"),
        ("100.100.100.200", "is a cloud metadata service address"),
        ("0.0.0.0", "is the unspecified address (it reaches this host itself)"),
        ("::", "is the unspecified address"),
    ],
)
def test_link_local_metadata_and_unspecified_addresses_are_refused_saying_which_and_how_to_allow_them(
    address: str, kind: str
) -> None:
    shown = str(ip_address(address))  # an IPv4-mapped address is shown in hexadecimal

    refusal = address_refusal(ip_address(address))

    assert refusal is not None and refusal.startswith(f"{shown} {kind}")
    literal = shown if ":" not in shown else f"[{shown}]"
    assert f"write the address itself in allowed_hosts ({literal}, or with ':port')" in refusal


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "::1",
        "10.0.0.7",
        "172.16.5.4",
        "192.168.1.1",
        "100.64.0.1",
        "fd00::1",
        "8.8.8.8",
        "2001:db8::1",
        "169.253.255.255",
        "169.255.0.0",
        "fec0::1",
        "::ffff:10.0.0.7",
    ],
)
def test_loopback_private_and_public_addresses_may_be_connected_to(address: str) -> None:
    assert address_refusal(ip_address(address)) is None


def test_a_refused_address_is_allowed_only_as_the_url_host_itself_listed_literally() -> None:
    metadata = ip_address("169.254.169.254")

    assert connect_refusal("169.254.169.254", metadata, ["169.254.169.254"]) is None
    assert connect_refusal("169.254.169.254", metadata, ["169.254.169.254:80"]) is None
    assert connect_refusal("169.254.169.254", metadata, ["docs.example.com"]) is not None
    assert connect_refusal("metadata.example.com", metadata, ["metadata.example.com", "169.254.169.254"]) is not None
    assert connect_refusal("fe80::5", ip_address("fe80::5"), ["[fe80::5]:8080"]) is None
    assert connect_refusal("10.0.0.7", ip_address("10.0.0.7"), ["docs.example.com"]) is None


def test_an_ipv6_address_is_listed_in_brackets_with_or_without_a_port() -> None:
    check_url("http://[fd00::7]/x", ["[fd00::7]"])
    check_url("http://[fd00::7]:8080/x", ["[FD00::7]:8080"])
    with pytest.raises(RefusedURL, match="not in allowed_hosts"):
        check_url("http://[fd00::7]:9090/x", ["[fd00::7]:8080"])
