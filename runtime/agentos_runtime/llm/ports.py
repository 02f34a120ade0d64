"""The chat model port: what the run loop needs from any model endpoint.

Messages and tool schemas are OpenAI chat-completions dicts (``{"role": ..., "content": ...}``,
``{"type": "function", "function": {...}}``), the lingua franca of every supported endpoint.
A stream yields text deltas as ``str`` and ends with one ``Completion`` carrying the whole
answer, reassembled tool calls and usage.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Message = dict[str, Any]
ToolSchema = dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str
    """The JSON text the model produced; parsing (and its errors) belong to the tool layer."""

    def to_openai(self) -> dict[str, Any]:
        """The call as an assistant message's ``tool_calls`` entry."""
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cache_read_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True)
class Completion:
    """One whole model answer."""

    content: str | None
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage | None = None
    provider_data: dict[str, Any] = field(default_factory=dict)
    time_to_first_token: float | None = None
    """Seconds from the request to the first content or tool-call chunk (streams only)."""


class ChatModel(Protocol):
    id: str
    """The model's id in the config."""
    model: str
    """The model name sent to the endpoint (Agno's ``model.id``, shown in events)."""
    name: str
    """Agno's class name for the UI, e.g. ``OpenAIChat``."""
    provider: str
    """Agno's provider label, e.g. ``OpenAI``."""
    provider_name: str
    """Agno's ``get_provider()``, e.g. ``OpenAI Chat``: the provider shown in run metrics details."""

    async def complete(self, messages: Sequence[Message], tools: Sequence[ToolSchema] | None) -> Completion:
        """One non-streaming request; raises ``ModelProviderError`` subclasses."""
        ...

    def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSchema] | None
    ) -> AsyncIterator[str | Completion]:
        """Text deltas, then exactly one final ``Completion``; raises ``ModelProviderError``."""
        ...

    def prepare(self) -> None:
        """Do slow one-time set-up (imports, clients) now instead of on the first request.

        Safe to run in a worker thread while the server already serves; never raises for a
        missing key (the first request reports that).
        """
        ...

    async def close(self) -> None:
        """Release connections; the model is not used afterwards."""
        ...
