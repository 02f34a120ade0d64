"""Chat models from the config: one adapter per declared model, keys read from the environment."""

from __future__ import annotations

from collections.abc import Mapping

from agentos_runtime.config.document import RuntimeConfig
from agentos_runtime.llm.clients import SharedClients
from agentos_runtime.llm.keys import key_from
from agentos_runtime.llm.openai import OPENAI_BASE_URL, OpenAIChatModel
from agentos_runtime.llm.ports import ChatModel


def build_models(config: RuntimeConfig, environ: Mapping[str, str]) -> dict[str, ChatModel]:
    """One ``ChatModel`` per declared model, keyed by id; nothing connects yet.

    Models on the same endpoint share one SDK client. A key variable that is unset or empty is
    no error for an endpoint other than OpenAI's (a local vLLM, Ollama, llama.cpp is called
    without ``Authorization``); for OpenAI's, each request of that model raises
    ``ModelAuthenticationError`` naming the variable (and the start-up log warns), so one
    unconfigured model does not stop the others from serving.
    """
    built: dict[str, ChatModel] = {}
    base_url = environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL
    clients = SharedClients()
    headers = openai_headers(environ)
    for model in config.models:
        api_key = key_from(environ, model.api_key_env)
        built[model.id] = OpenAIChatModel(
            model, api_key=api_key or None, clients=clients, default_base_url=base_url, headers=headers
        )
    return built


def openai_headers(environ: Mapping[str, str]) -> dict[str, str]:
    """The organization and project headers the OpenAI SDK sends from ``OPENAI_ORG_ID`` and
    ``OPENAI_PROJECT_ID``."""
    headers = {"OpenAI-Organization": environ.get("OPENAI_ORG_ID"), "OpenAI-Project": environ.get("OPENAI_PROJECT_ID")}
    return {name: value for name, value in headers.items() if value}


async def close_models(models: Mapping[str, ChatModel]) -> None:
    """Close every model's connections (the app's shutdown)."""
    for model in models.values():
        await model.close()


def prepare_models(models: Mapping[str, ChatModel]) -> None:
    """Run every model's one-time set-up (``ChatModel.prepare``); meant for a worker thread.

    Building the SDK's client (importing it, loading TLS material for ``https://`` endpoints)
    takes a few hundred milliseconds: doing it here, in the background after start-up, keeps
    it out of both the cold start and the first request.
    """
    for model in models.values():
        model.prepare()
