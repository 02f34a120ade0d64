"""The form parsers on their own: an urlencoded form split into fields by python-multipart and read
strictly within its limits, and a multipart body python-multipart cannot parse refused as a 400."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import Path

import pytest
from agentos_runtime.api.forms import TextFormParser
from starlette.datastructures import Headers
from starlette.formparsers import MultiPartException

from tests.runtime.api.harness import agent_config, serve_on
from tests.support.fake_openai import FakeOpenAIServer

URLENCODED = Headers({"content-type": "application/x-www-form-urlencoded"})


async def chunks(*pieces: bytes) -> AsyncGenerator[bytes, None]:
    for piece in pieces:
        yield piece


async def parsed(*pieces: bytes, max_fields: int = 1000, max_part_size: int = 1024 * 1024) -> list[tuple[str, object]]:
    parser = TextFormParser(URLENCODED, chunks(*pieces), max_fields=max_fields, max_part_size=max_part_size)
    return list((await parser.parse()).multi_items())


async def test_fields_split_across_chunks_are_read_whole_with_their_escapes() -> None:
    items = await parsed(b"mess", b"age=caf%C3", b"%A9+au+lait&session_id=s%3", b"01&message=again")

    assert items == [("message", "café au lait"), ("session_id", "s01"), ("message", "again")]


async def test_a_field_over_the_size_limit_counting_its_name_is_refused() -> None:
    assert await parsed(b"ab=cdef", max_part_size=6) == [("ab", "cdef")]
    with pytest.raises(MultiPartException) as caught:
        await parsed(b"ab=cdefg", max_part_size=6)
    assert caught.value.message.startswith("Field exceeded maximum size")


async def test_more_fields_than_the_limit_are_refused() -> None:
    assert len(await parsed(b"a=1&b=2&c=3", max_fields=3)) == 3
    with pytest.raises(MultiPartException) as caught:
        await parsed(b"a=1&b=2&c=3&d=4", max_fields=3)
    assert caught.value.message == "Too many fields. Maximum number of fields is 3."


async def test_an_escape_that_is_not_utf8_is_refused_naming_the_field() -> None:
    with pytest.raises(MultiPartException) as caught:
        await parsed(b"message=%FF")
    assert caught.value.message == "field 'message' is not valid UTF-8: send text encoded as UTF-8"


async def test_a_multipart_body_that_cannot_be_parsed_is_a_400(fake_openai: FakeOpenAIServer, tmp_path: Path) -> None:
    async with serve_on("sqlite", agent_config(fake_openai.base_url), tmp_path) as served:
        response = await served.client.post(
            "/agents/assistant/runs",
            content=b"not a multipart body",
            headers={"content-type": "multipart/form-data; boundary=b"},
        )

    assert response.status_code == 400, response.text
    assert response.json() == {"detail": "Invalid multipart data."}
    assert fake_openai.bodies == []
