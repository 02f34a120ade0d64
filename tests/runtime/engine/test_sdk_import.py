"""The SDK as the runtime loads it: without its aiohttp transport, which the runtime never uses."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.fake_openai import FakeOpenAIServer, Reply

PROBE = """
import asyncio, importlib.util, json, sys
from agentos_runtime.config import ModelConfig
from agentos_runtime.llm.openai import OpenAIChatModel

async def main():
    model = OpenAIChatModel(ModelConfig(id="m", model="gpt-test", base_url=sys.argv[1], max_retries=0), api_key="k")
    completion = await model.complete([{"role": "user", "content": "hi"}], None)
    await model.close()
    return completion.content

content = asyncio.run(main())
loaded = sorted(m for m in ("openai", "aiohttp") if m in sys.modules)
print(json.dumps({"content": content, "loaded": loaded, "aiohttp_installed": importlib.util.find_spec("aiohttp") is not None}))
"""


def test_a_model_request_loads_the_sdk_but_not_aiohttp_though_it_is_installed(
    fake_openai: FakeOpenAIServer,
) -> None:
    fake_openai.script(Reply.say("answered"))

    result = subprocess.run(
        [sys.executable, "-c", PROBE, fake_openai.base_url], capture_output=True, text=True, check=True, timeout=60
    )

    # aiohttp is installed (the operator's client), so the SDK would import it if let.
    assert json.loads(result.stdout) == {"content": "answered", "loaded": ["openai"], "aiohttp_installed": True}
