"""An embeddings endpoint that answers 200 with what no search can use: vectors holding NaN,
infinities, strings, nulls or only zeros, or an HTML page instead of JSON.

``BrokenEmbeddings`` answers every request with one vector per input, each the raw JSON text
``vector`` (``NaN`` and ``1e400`` included, which JSON encoders would not write), or with
``html`` as ``text/html`` when it is set. The ``broken_embeddings`` fixture serves one; import
it (with ``broken_embeddings_server``) into a test module to use it.
"""

from __future__ import annotations

import base64
import json
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.runtime.knowledge.serving import DIMENSIONS
from tests.support.fake_openai import serve_asgi


def raw_vector(last: str, *, dimensions: int = DIMENSIONS) -> str:
    """A JSON vector of ``dimensions`` values, 0.5 but the last, which is ``last`` as written."""
    return "[" + ",".join(["0.5"] * (dimensions - 1) + [last]) + "]"


def base64_vector(last: float, *, dimensions: int = DIMENSIONS) -> str:
    """The same as base64 float32, as the SDK asks for vectors: a JSON string."""
    return json.dumps(base64.b64encode(array("f", [0.5] * (dimensions - 1) + [last]).tobytes()).decode())


class BrokenEmbeddings:
    """The ASGI app; set ``vector`` or ``html`` before each request."""

    def __init__(self) -> None:
        self.vector = raw_vector("0.5")
        self.html: str | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if self.html is not None:
            await _send(send, "text/html", self.html.encode())
            return
        inputs = json.loads(body)["input"]
        count = 1 if isinstance(inputs, str) else len(inputs)
        data = ",".join(f'{{"object":"embedding","index":{i},"embedding":{self.vector}}}' for i in range(count))
        answer = f'{{"object":"list","model":"m","usage":{{"prompt_tokens":1,"total_tokens":1}},"data":[{data}]}}'
        await _send(send, "application/json", answer.encode())


async def _send(send: Any, content_type: str, body: bytes) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True)
class BrokenServer:
    app: BrokenEmbeddings
    base_url: str


@pytest.fixture(scope="module")
def broken_embeddings_server() -> Iterator[BrokenServer]:
    app = BrokenEmbeddings()
    with serve_asgi(app) as port:
        yield BrokenServer(app, f"http://127.0.0.1:{port}/v1")


@pytest.fixture
def broken_embeddings(broken_embeddings_server: BrokenServer) -> BrokenServer:
    """The module's server, answering usable vectors until the test sets what it answers."""
    broken_embeddings_server.app.vector = raw_vector("0.5")
    broken_embeddings_server.app.html = None
    return broken_embeddings_server
