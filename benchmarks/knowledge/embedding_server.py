"""The knowledge benchmark's embedder: ``POST /v1/embeddings`` answering ``fake_embedding`` vectors.

An OpenAI-compatible embeddings endpoint in its own process (pinned away from the process
under test, so its CPU is not counted): each input text gets the test suite's deterministic
``fake_embedding`` of the requested ``dimensions``, as JSON floats or, when the client asks
(the OpenAI SDK's default), as base64 little-endian float32. Nothing is recorded. Both sides
of the benchmark call it through the ``openai`` SDK: ours through the runtime's embedder,
Agno through its ``OpenAIEmbedder``.
"""

from __future__ import annotations

import argparse
import base64
import json
import struct
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

from tests.support.fake_embeddings import fake_embedding

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
DEFAULT_DIMENSIONS = 1536


def embeddings_response(body: dict[str, Any]) -> dict[str, Any]:
    """The answer to one embeddings request, as OpenAI's API shapes it."""
    texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
    dimensions = int(body.get("dimensions") or DEFAULT_DIMENSIONS)
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, text in enumerate(texts):
        vector: Any = fake_embedding(str(text), dimensions)
        if as_base64:
            vector = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": vector})
    tokens = sum(len(str(text).split()) for text in texts)
    return {
        "object": "list",
        "data": data,
        "model": body.get("model", "fake-embedder"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    if scope["method"] == "POST" and scope["path"].endswith("/embeddings"):
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        status, payload = 200, embeddings_response(json.loads(b"".join(chunks)))
    elif scope["method"] == "GET" and scope["path"].endswith("/models"):
        status, payload = 200, {"object": "list", "data": [{"id": "fake-embedder", "object": "model"}]}
    else:
        status, payload = 404, {"error": {"message": f"no route {scope['method']} {scope['path']}"}}
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False, lifespan="off")


if __name__ == "__main__":
    main()
