"""Chat model declarations: any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp, Ollama)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from agentos_runtime.config.base import ID_MAX_LENGTH, ID_PATTERN, Schema
from agentos_runtime.config.hosts import EndpointURL

# An environment variable name as POSIX shells accept it.
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


class ModelFields(Schema):
    """Fields of a model that the runtime file and the custom resource share."""

    id: str = Field(
        pattern=ID_PATTERN,
        max_length=ID_MAX_LENGTH,
        description="Unique id that agents and teams use to refer to this model.",
    )
    provider: Literal["openai"] = Field(
        default="openai",
        description="API flavour. `openai` covers every OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp, Ollama).",
    )
    model: str | None = Field(
        default=None, min_length=1, description="Model name sent to the endpoint; defaults to `id`."
    )
    base_url: EndpointURL | None = Field(
        default=None,
        description="Endpoint base URL, e.g. `http://vllm:8000/v1`; defaults to OpenAI's.",
    )
    timeout: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description=(
            "Seconds a model request may wait to connect or for the next part of the answer before it"
            " fails (and is retried); a streamed answer that keeps coming is never cut, a JSON answer"
            " must be complete within twice this per attempt."
        ),
    )
    max_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Retries of a failed request (rate limits, connection errors, 5xx); auth errors are never retried.",
    )
    temperature: float | None = Field(default=None, ge=0, le=2, description="Sampling temperature.")
    max_tokens: int | None = Field(default=None, gt=0, description="Upper bound on generated tokens per request.")
    top_p: float | None = Field(default=None, gt=0, le=1, description="Nucleus sampling probability mass.")

    @property
    def model_name(self) -> str:
        return self.model or self.id


class ModelConfig(ModelFields):
    """A chat model in the runtime file; its API key comes from an environment variable."""

    api_key_env: str | None = Field(
        default="OPENAI_API_KEY",
        pattern=ENV_NAME_PATTERN,
        description="Environment variable holding the API key; null for endpoints that need none.",
    )
