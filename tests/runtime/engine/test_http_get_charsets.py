"""``http_get`` reads a page in the charset its server declares when that is a charset read here
(``agentos_runtime.charsets``), else as UTF-8: a declared punycode or IDNA, whose decoding is
quadratic or fails outright, is read as UTF-8, not on the event loop for minutes."""

from __future__ import annotations

from typing import Any

import pytest
from agentos_runtime.llm.ports import ToolCall
from agentos_runtime.tools.executing import execute_tool_call
from agentos_runtime.tools.http_get import HttpGetSettings, build_http_get

from tests.support.fake_openai import serve_asgi

BODY = "-b\u00e9a".encode("latin-1")  # b"-b\xe9a": é in Latin-1, no valid UTF-8


async def site(scope: dict[str, Any], receive: Any, send: Any) -> None:
    charset = scope["path"].strip("/").encode()
    headers = [(b"content-type", b"text/plain; charset=" + charset)]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})


@pytest.mark.parametrize(
    ("charset", "read"),
    [
        ("latin-1", "-b\u00e9a"),
        ("punycode", "-b\ufffda"),
        ("idna", "-b\ufffda"),
        ("x-made-up", "-b\ufffda"),
    ],
)
async def test_a_page_is_read_in_its_declared_charset_when_it_is_one_read_here(charset: str, read: str) -> None:
    with serve_asgi(site) as port:
        tool = build_http_get(HttpGetSettings(allowed_hosts=["127.0.0.1"], timeout=5))
        call = ToolCall(id="c1", name="http_get", arguments=f'{{"url": "http://127.0.0.1:{port}/{charset}"}}')

        outcome = await execute_tool_call(call, {"http_get": tool})

    assert outcome.error is False
    assert outcome.result == f"HTTP 200\n{read}"
