"""Chat models from the config: one adapter per declared model, keys read from the environment."""

from __future__ import annotations

from collections.abc import Mapping

from agentos_runtime.config.document import RuntimeConfig
from agentos_runtime.llm.openai import OpenAIChatModel
from agentos_runtime.llm.ports import ChatModel


def build_models(config: RuntimeConfig, environ: Mapping[str, str]) -> dict[str, ChatModel]:
    """One ``ChatModel`` per declared model, keyed by id; nothing connects yet.

    A key variable that is unset or empty is not an error here: the model's first request
    raises ``ModelAuthenticationError`` naming the variable, so one unconfigured model does not
    stop the others from serving.
    """
    built: dict[str, ChatModel] = {}
    for model in config.models:
        api_key = environ.get(model.api_key_env) if model.api_key_env else None
        built[model.id] = OpenAIChatModel(model, api_key=api_key or None)
    return built


async def close_models(models: Mapping[str, ChatModel]) -> None:
    """Close every model's connections (the app's shutdown)."""
    for model in models.values():
        await model.close()


def prepare_models(models: Mapping[str, ChatModel]) -> None:
    """Run every model's one-time set-up (``ChatModel.prepare``); meant for a worker thread.

    The OpenAI SDK import takes about 0.4 s: doing it here, in the background after start-up,
    keeps it out of both the cold start and the first request.
    """
    for model in models.values():
        model.prepare()
