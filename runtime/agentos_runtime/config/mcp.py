"""MCP servers: tool servers spoken to with the Model Context Protocol, declared by name.

A server is reached over streamable HTTP (``url``, ``headers``) or started as a stdio command
inside the runtime's image (``command``, ``args``, ``env``); the field names are Agno's
``MCPTools`` ones. An agent or a team's leader uses a server's tools by listing
``mcp:<server id>`` in its ``tools``, and narrows them with ``tool_config["mcp:<server id>"]``
(``include_tools``, ``exclude_tools``, ``tool_name_prefix``); a tool whose name the model would
refuse is offered under a valid name made from it (``model_tool_name``). Header and environment values that are secrets come
from environment variables (``value_env``), which the operator fills from Secret references. A variable that is set but empty (or only whitespace) counts as not set
(``variable_state``): an empty secret is almost always a mistake, and sending an empty header or
passing an empty variable would only make the server refuse every call later, less clearly.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Literal

from pydantic import Field, field_validator, model_validator

from agentos_runtime.config.base import ID_MAX_LENGTH, ID_PATTERN, Schema
from agentos_runtime.config.llm import ENV_NAME_PATTERN

# ``tools`` entries naming an MCP server: ``mcp:github``.
MCP_TOOL_PREFIX = "mcp:"
# An HTTP header name as RFC 9110 defines a token.
HEADER_NAME_PATTERN = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
# Names the model sees for a tool (the chat-completions rule).
TOOL_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MAX_TOOL_NAME_CHARS = 64
# A character a tool name the model sees may not hold.
_NOT_IN_TOOL_NAME = re.compile(r"[^A-Za-z0-9_-]")
# Hex digits of the name's hash that end a name cut to MAX_TOOL_NAME_CHARS.
_NAME_HASH_CHARS = 8

# Whether a ``value_env`` variable holds a value to use; anything but ``set`` is a config problem.
VariableState = Literal["set", "empty", "not set"]

DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_RESULT_CHARS = 50_000
# Most tool names one list of an entry's settings may give.
MAX_LISTED_TOOLS = 256


class NamedValue(Schema):
    """A header or environment variable: a literal value or the name of a variable holding it."""

    name: str = Field(min_length=1, description="Name.")
    value: str | None = Field(default=None, description="The value itself; for anything secret use `value_env`.")
    value_env: str | None = Field(
        default=None,
        pattern=ENV_NAME_PATTERN,
        description="Runtime environment variable holding the value (never logged); the operator fills it from a Secret. Set to nothing, it counts as not set: start-up stops naming it.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> NamedValue:
        if (self.value is None) == (self.value_env is None):
            raise ValueError("set exactly one of value, value_env")
        return self


class McpHeader(NamedValue):
    """An HTTP header sent with every request to the server."""

    name: str = Field(pattern=HEADER_NAME_PATTERN, description="Header name, e.g. `Authorization`.")


class McpEnvVar(NamedValue):
    """An environment variable given to a stdio server's process."""

    name: str = Field(pattern=ENV_NAME_PATTERN, description="Variable name in the server's process.")


class McpServerFields(Schema):
    """Fields of an MCP server that the runtime file and the custom resource share."""

    id: str = Field(
        pattern=ID_PATTERN,
        max_length=ID_MAX_LENGTH,
        description="Unique id; agents and teams list `mcp:<id>` in their `tools` to use the server's tools.",
    )
    transport: Literal["streamable-http", "stdio"] = Field(
        default="streamable-http",
        description="`streamable-http`: the server listens at `url`; `stdio`: the runtime starts `command` and speaks over its stdin/stdout.",
    )
    url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        max_length=2048,
        description="Endpoint of a `streamable-http` server, e.g. `http://github-mcp.tools.svc:8080/mcp`.",
    )
    command: str | None = Field(
        default=None, min_length=1, description="Executable of a `stdio` server, found on the image's PATH."
    )
    args: list[str] = Field(default_factory=list, max_length=64, description="Arguments of `command`.")
    timeout_seconds: float = Field(
        default=DEFAULT_TIMEOUT_SECONDS,
        gt=0,
        le=600,
        description="Seconds one tool call may take before the model is told it timed out (Agno's `timeout_seconds`).",
    )
    max_result_chars: int = Field(
        default=DEFAULT_MAX_RESULT_CHARS,
        ge=100,
        le=10_000_000,
        description="Characters of a tool result the model sees; a longer result is cut, with a note saying so.",
    )

    @model_validator(mode="after")
    def _transport_fields(self) -> McpServerFields:
        if self.transport == "streamable-http":
            if self.url is None and self.url_required():
                raise ValueError("a streamable-http server needs url")
            if self.command is not None or self.args:
                raise ValueError("command and args are for stdio servers; remove them or set transport: stdio")
        else:
            if self.command is None:
                raise ValueError("a stdio server needs command")
            if self.url is not None:
                raise ValueError("url is for streamable-http servers; remove it or set transport: streamable-http")
        return self

    def url_required(self) -> bool:
        """Whether a streamable-http server must name its ``url`` (the resource derives a sidecar's)."""
        return True


class McpServerConfig(McpServerFields):
    """An MCP server in the runtime file; secret header and env values come from variables."""

    headers: list[McpHeader] = Field(
        default_factory=list, max_length=32, description="HTTP headers of a `streamable-http` server."
    )
    env: list[McpEnvVar] = Field(
        default_factory=list, max_length=64, description="Environment variables of a `stdio` server's process."
    )

    @model_validator(mode="after")
    def _transport_settings(self) -> McpServerConfig:
        if self.headers and self.transport != "streamable-http":
            raise ValueError("headers are for streamable-http servers")
        if self.env and self.transport != "stdio":
            raise ValueError("env is for stdio servers")
        return self

    def secret_env_names(self) -> list[str]:
        """Variables holding header or env values: their values are never logged."""
        return [item.value_env for item in (*self.headers, *self.env) if item.value_env is not None]


class McpToolSettings(Schema):
    """``tool_config["mcp:<server id>"]``: which of the server's tools an agent may use."""

    include_tools: list[str] | None = Field(
        default=None, max_length=256, description="Only these tools of the server (its names); all when omitted."
    )
    exclude_tools: list[str] = Field(
        default_factory=list, max_length=256, description="Tools of the server the agent may not use."
    )
    tool_name_prefix: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,32}$",
        description="Prefix of the names the model sees (`<prefix>_<tool>`), to tell apart two servers' tools of the same name.",
    )
    requires_confirmation: bool | list[str] = Field(
        default=False,
        description="Tools of the server (its names) whose calls wait for a person's confirmation, or `true` for all: the run pauses when the model calls one (`RunPaused`, `TeamRunPaused`, `WorkflowPaused`) and goes on through `POST /agents|teams|workflows/{id}/runs/{run_id}/continue`.",
    )

    @model_validator(mode="after")
    def _disjoint(self) -> McpToolSettings:
        both = sorted(set(self.include_tools or ()) & set(self.exclude_tools))
        if both:
            raise ValueError(f"tools both included and excluded: {', '.join(both)}")
        return self

    @field_validator("requires_confirmation")
    @classmethod
    def _bounded(cls, value: bool | list[str]) -> bool | list[str]:
        if isinstance(value, list) and len(value) > MAX_LISTED_TOOLS:
            raise ValueError(f"at most {MAX_LISTED_TOOLS} tool names, or true for all the server's tools")
        return value

    def confirms(self, tool_name: str) -> bool:
        """Whether a call of the server's tool ``tool_name`` waits for a person's confirmation."""
        if isinstance(self.requires_confirmation, bool):
            return self.requires_confirmation
        return tool_name in self.requires_confirmation

    def admits(self, tool_name: str) -> bool:
        """Whether the agent may use the server's tool ``tool_name``."""
        if tool_name in self.exclude_tools:
            return False
        return self.include_tools is None or tool_name in self.include_tools

    def exposed_name(self, tool_name: str) -> str:
        """The name the model sees for the server's tool ``tool_name`` (``model_tool_name``)."""
        return model_tool_name(f"{self.tool_name_prefix}_{tool_name}" if self.tool_name_prefix else tool_name)


def variable_state(variable: str, environ: Mapping[str, str]) -> VariableState:
    """Whether ``variable`` holds a header or env value: ``set``, ``empty`` (set to nothing or only
    whitespace, which HTTP trims from a header anyway) or ``not set``.

    The one rule both the start-up lines and the connection follow: only ``set`` is used.
    """
    value = environ.get(variable)
    if value is None:
        return "not set"
    return "set" if value.strip() else "empty"


def mcp_server_of(tool_name: str) -> str | None:
    """The server id a ``tools`` entry names (``mcp:github`` -> ``github``), else ``None``."""
    if tool_name.startswith(MCP_TOOL_PREFIX):
        return tool_name[len(MCP_TOOL_PREFIX) :]
    return None


def is_valid_tool_name(name: str) -> bool:
    """Whether the model may be shown ``name`` as a function name."""
    return re.fullmatch(TOOL_NAME_PATTERN, name) is not None


def model_tool_name(name: str) -> str:
    """``name`` as a function name the model accepts, the same each time for the same ``name``.

    A valid name is kept. Otherwise each character outside ``A-Z a-z 0-9 _ -`` becomes ``_``
    (``search issues``, ``repo.search`` -> ``search_issues``, ``repo_search``), and a name
    longer than ``MAX_TOOL_NAME_CHARS`` keeps its first characters and ends in ``_`` and the
    first hex digits of the SHA-256 of the whole name, so two long names that begin alike stay
    two names. Two names that differ only in such characters become one: the second is left out
    as a clash (``ToolSet``), as for any two tools of one name.
    """
    if is_valid_tool_name(name):
        return name
    replaced = _NOT_IN_TOOL_NAME.sub("_", name) or "_"
    if len(replaced) <= MAX_TOOL_NAME_CHARS:
        return replaced
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:_NAME_HASH_CHARS]
    return f"{replaced[: MAX_TOOL_NAME_CHARS - _NAME_HASH_CHARS - 1]}_{digest}"
