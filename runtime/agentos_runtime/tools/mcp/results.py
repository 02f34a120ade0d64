"""A tool call's result as the text the model reads, cut to a size.

Text blocks are joined as they are; a result with only structured content is sent as its JSON;
blocks the model cannot read as text (images, audio, binary resources) are named, not inlined,
so a screenshot does not become a megabyte of base64 in the chat.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import mcp_types as types


def result_text(result: types.CallToolResult) -> str:
    """The text of ``result``'s content blocks (its structured content when it has no blocks)."""
    parts = [_block_text(block) for block in result.content]
    if not parts and result.structured_content is not None:
        return json.dumps(result.structured_content, ensure_ascii=False, default=str)
    return "\n".join(parts)


def _block_text(block: Any) -> str:
    if isinstance(block, types.TextContent):
        return block.text
    if isinstance(block, types.ImageContent | types.AudioContent):
        kind = "image" if isinstance(block, types.ImageContent) else "audio"
        return f"[{kind} ({block.mime_type}), not shown]"
    if isinstance(block, types.ResourceLink):
        return f"[resource {block.uri}: {block.name}]"
    if isinstance(block, types.EmbeddedResource):
        resource = block.resource
        if isinstance(resource, types.TextResourceContents):
            return resource.text
        return f"[binary resource {resource.uri} ({resource.mime_type or 'unknown type'}), not shown]"
    return f"[{getattr(block, 'type', type(block).__name__)} content, not shown]"


def cut(text: str, max_chars: int) -> str:
    """``text``, or its first ``max_chars`` characters followed by a note saying how much was cut."""
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}\n[result cut at {max_chars} of {len(text)} characters]"


def error_text(result: types.CallToolResult) -> str:
    """What a result flagged ``is_error`` says, or a note that it said nothing."""
    return result_text(result).strip() or "the tool reported an error without a message"


def tool_names(tools: Sequence[types.Tool]) -> list[str]:
    return [tool.name for tool in tools]
