"""The allow-list every fetched URL passes: a URL it cannot read is refused, never an error of another kind."""

from __future__ import annotations

import pytest
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
