"""A stdio MCP server that misbehaves on purpose, speaking raw JSON-RPC (no SDK to keep it polite).

It answers the handshake-era ``initialize`` (refusing the 2026-era ``server/discover``, so
clients fall back), lists its tools and answers calls, one thread per call. What it does wrong
is chosen by its arguments, so one script stands for every hostile server the tests need:

    python tests/runtime/mcp/hostile_server.py [silent] [tools=N] [deep=N] [odd-names] [stderr=BYTES]
        [stderr-lines=N]

``silent`` answers nothing at all; ``tools=N`` lists N more tools ``t0`` .. ``tN-1``; ``deep=N``
adds a tool whose input schema nests N levels; ``odd-names`` adds tools named with spaces, dots
and 200 characters; ``stderr=BYTES`` writes a line of that many bytes to stderr at start,
``stderr-lines=N`` N short lines. Its tools:

``echo`` (its ``text`` back, after ``delay`` seconds), ``stall`` (never answers), ``crash``
(the process exits mid-call), ``big`` (``size`` characters of text), ``many`` (``count`` text
items), ``image`` (an image item and a text one), ``flood`` (``count`` log notifications,
then an answer), ``refuse`` (a result flagged ``isError``), ``garbage`` (a line that is not
JSON, then nothing), ``wrong_id`` (an answer to a request never made, then nothing),
``bad_shape`` (a result whose content is not a list), ``bad_structured`` (structured content
against the output schema it lists), ``pid`` (the process's id); every other tool answers
``called <its name>``.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
import time
from typing import Any

_write_lock = threading.Lock()


def send(message: dict[str, Any]) -> None:
    raw: dict[str, str] = {}

    def splice(value: Any) -> Any:
        if isinstance(value, RawJson):
            raw[marker := f"@raw{len(raw)}@"] = value.text
            return marker
        raise TypeError(type(value).__name__)

    line = json.dumps(message, default=splice)
    for marker, text in raw.items():
        line = line.replace(f'"{marker}"', text)
    with _write_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def send_raw(text: str) -> None:
    with _write_lock:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def text_result(text: str, *, is_error: bool = False) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": is_error}


def nested_schema(levels: int) -> RawJson:
    """An object schema nesting ``levels`` objects (written out: ``json`` would recurse too deep)."""
    opening = '{"type": "object", "properties": {"inner": ' * levels
    closing = "}}" * levels
    return RawJson('{"type": "object", "properties": {"value": ' + opening + '{"type": "string"}' + closing + "}}")


class RawJson:
    """JSON text placed as it is into a message (``send`` splices it in)."""

    def __init__(self, text: str) -> None:
        self.text = text


def tool(name: str, schema: dict[str, Any] | RawJson | None = None) -> dict[str, Any]:
    return {"name": name, "description": f"The {name} tool.", "inputSchema": schema or {"type": "object"}}


BASE_TOOLS = [
    "echo",
    "stall",
    "crash",
    "big",
    "many",
    "image",
    "flood",
    "refuse",
    "garbage",
    "wrong_id",
    "bad_shape",
    "pid",
]


def listed_tools(options: dict[str, str]) -> list[dict[str, Any]]:
    tools = [tool(name) for name in BASE_TOOLS]
    counted = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    tools.append({**tool("bad_structured"), "outputSchema": counted})
    tools += [tool(f"t{i}") for i in range(int(options.get("tools", "0")))]
    if "deep" in options:
        tools.append(tool("deep", nested_schema(int(options["deep"]))))
    if "odd-names" in options:
        tools += [tool("has space"), tool("dotted.name"), tool("n" * 200)]
    return tools


def call(request_id: Any, name: str, arguments: dict[str, Any]) -> None:
    if name == "echo":
        time.sleep(float(arguments.get("delay", 0)))
        send({"jsonrpc": "2.0", "id": request_id, "result": text_result(str(arguments.get("text", "")))})
    elif name == "stall":
        return
    elif name == "crash":
        os._exit(3)
    elif name == "big":
        send({"jsonrpc": "2.0", "id": request_id, "result": text_result("x" * int(arguments["size"]))})
    elif name == "many":
        content = [{"type": "text", "text": f"item {i}"} for i in range(int(arguments["count"]))]
        send({"jsonrpc": "2.0", "id": request_id, "result": {"content": content}})
    elif name == "image":
        data = base64.b64encode(b"\x89PNG" + b"\x00" * 1_000_000).decode()
        content = [{"type": "image", "data": data, "mimeType": "image/png"}, {"type": "text", "text": "a chart"}]
        send({"jsonrpc": "2.0", "id": request_id, "result": {"content": content}})
    elif name == "flood":
        for i in range(int(arguments["count"])):
            params = {"level": "info", "data": f"working {i}"}
            send({"jsonrpc": "2.0", "method": "notifications/message", "params": params})
        send({"jsonrpc": "2.0", "id": request_id, "result": text_result("flooded")})
    elif name == "refuse":
        send({"jsonrpc": "2.0", "id": request_id, "result": text_result("no such customer", is_error=True)})
    elif name == "garbage":
        send_raw('{"jsonrpc": "2.0", "id": ')
    elif name == "bad_shape":
        send({"jsonrpc": "2.0", "id": request_id, "result": {"content": "not a list"}})
    elif name == "bad_structured":
        result = {**text_result("n is one"), "structuredContent": {"n": "one"}}
        send({"jsonrpc": "2.0", "id": request_id, "result": result})
    elif name == "pid":
        send({"jsonrpc": "2.0", "id": request_id, "result": text_result(str(os.getpid()))})
    elif name == "wrong_id":
        send({"jsonrpc": "2.0", "id": 987654321, "result": text_result("for someone else")})
    else:  # the listed tools beyond the base ones: each says its own name
        send({"jsonrpc": "2.0", "id": request_id, "result": text_result(f"called {name}")})


def handle(message: dict[str, Any], options: dict[str, str]) -> None:
    method, request_id = message.get("method"), message.get("id")
    if request_id is None:  # a notification
        return
    params = message.get("params") or {}
    if method == "initialize":
        result = {
            "protocolVersion": params.get("protocolVersion", "2025-06-18"),
            "capabilities": {"tools": {}, "logging": {}},
            "serverInfo": {"name": "hostile", "version": "1"},
        }
        send({"jsonrpc": "2.0", "id": request_id, "result": result})
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": request_id, "result": {"tools": listed_tools(options)}})
    elif method == "tools/call":
        arguments = params.get("arguments") or {}
        threading.Thread(target=call, args=(request_id, params["name"], arguments), daemon=True).start()
    else:
        send({"jsonrpc": "2.0", "id": request_id, "error": {"code": -32601, "message": f"no method {method}"}})


def main(argv: list[str]) -> None:
    options = dict(arg.partition("=")[::2] for arg in argv)
    if "stderr" in options:
        sys.stderr.write("e" * int(options["stderr"]) + "\n")
        sys.stderr.flush()
    for i in range(int(options.get("stderr-lines", "0"))):
        sys.stderr.write(f"progress line {i}\n")
    sys.stderr.flush()
    for line in sys.stdin:
        if "silent" in options or not line.strip():
            continue
        handle(json.loads(line), options)


if __name__ == "__main__":
    main(sys.argv[1:])
