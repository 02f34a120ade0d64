"""What an agent's or a team leader's run does with the knowledge base it names (``knowledge``).

Two ways, as in Agno, both on by configuration:

* ``search_knowledge`` (the default): the model gets Agno's ``search_knowledge_base(query)``
  tool, and the system message a ``<knowledge_base>`` block telling it to search before it
  answers. The tool returns the chunks found as Agno's documents (``name``, ``meta_data`` with
  ``similarity_score``, ``content``), a JSON list indented by two, or ``No documents found``.
  A search that fails (the embedding endpoint or the database down) is an error result the
  model reads (``tool_call_error``), never a failed run.
* ``add_knowledge_to_context``: before the first model request the base is searched with the
  user's message and the chunks found are appended to that message under
  ``Use the following references from the knowledge base if it helps:`` in a
  ``<references>`` block. As in Agno, a search that fails there is logged as a warning and
  the run goes on without references: the model can still answer, and with the tool it can
  search again.

A run's ``knowledge_filters`` (Agno's, a JSON object of metadata values) keep both searches
to the chunks whose metadata has each of those values, as the knowledge search API's
``filters`` do.

Every search that found something is kept on the run as Agno's ``references``
(``MessageReferences``: ``query``, ``references``, ``time`` in seconds), stored with the run
and returned by the API. The decisions and texts are pure functions; ``RunKnowledge`` does the
searching. A component without ``knowledge`` has no ``RunKnowledge`` and its runs pay nothing.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from agentos_runtime.config.components import ComponentFields
from agentos_runtime.errors import AgentOSError
from agentos_runtime.knowledge.ports import KnowledgeSearch
from agentos_runtime.knowledge.records import SearchHit
from agentos_runtime.llm.ports import ToolSchema
from agentos_runtime.runs.turns import Toolbox
from agentos_runtime.tools.tool import Tool, ToolFailed

log = logging.getLogger(__name__)

JSON = dict[str, Any]

SEARCH_KNOWLEDGE_BASE = "search_knowledge_base"
NO_DOCUMENTS = "No documents found"
REFERENCES_INTRO = "Use the following references from the knowledge base if it helps:"

_DESCRIPTION = "Use this function to search the knowledge base for information about a query."
_PARAMETERS: JSON = {
    "type": "object",
    "properties": {"query": {"type": "string", "description": "The query to search for."}},
    "required": ["query"],
    "additionalProperties": False,
}
_INSTRUCTIONS = (
    "<knowledge_base>\n"
    f"You can search a knowledge base with the {SEARCH_KNOWLEDGE_BASE} tool. Search it before you answer "
    "instead of relying on what you already know, and when a question is ambiguous, search first rather "
    "than asking for clarification.\n"
    "</knowledge_base>"
)


class KnowledgeSearchError(ToolFailed):
    """A search of the knowledge base failed; the model reads it as the tool's error result."""


def similarity_score(distance: float) -> float:
    """The similarity Agno reports for a cosine distance: ``1 - distance`` within [0, 1]."""
    if math.isnan(distance) or math.isinf(distance):
        return 0.0
    return max(0.0, min(1.0, 1.0 - distance))


def document(hit: SearchHit) -> JSON:
    """A chunk found, as Agno's ``Document.to_dict()`` of a vector search result."""
    found: JSON = {}
    if hit.name is not None:
        found["name"] = hit.name
    found["meta_data"] = {**hit.meta_data, "similarity_score": similarity_score(hit.distance)}
    found["content"] = hit.content
    return found


def format_documents(documents: Sequence[JSON]) -> str:
    """The tool's result: the documents as indented JSON, or Agno's text when there are none."""
    if not documents:
        return NO_DOCUMENTS
    return json.dumps(list(documents), indent=2, ensure_ascii=False, default=str)


def with_references(message: str, documents: Sequence[JSON]) -> str:
    """The user's message with the documents appended, as Agno's ``add_knowledge_to_context`` does."""
    if not documents:
        return message
    block = json.dumps(list(documents), indent=2, ensure_ascii=False, default=str)
    return f"{message}\n\n{REFERENCES_INTRO}\n<references>\n{block}\n</references>"


def with_search_instructions(system: str | None) -> str:
    """The system message with the ``<knowledge_base>`` block appended (the whole message when there was none)."""
    return _INSTRUCTIONS if not system else f"{system}\n\n{_INSTRUCTIONS}"


def message_references(query: str, documents: Sequence[JSON], elapsed: float) -> JSON:
    """Agno's ``MessageReferences.model_dump()``: what was searched, what was found, in how long."""
    return {"query": query, "references": list(documents), "time": round(elapsed, 4)}


def search_tool_schema() -> ToolSchema:
    """The chat-completions ``tools`` entry of ``search_knowledge_base``."""
    return {
        "type": "function",
        "function": {"name": SEARCH_KNOWLEDGE_BASE, "description": _DESCRIPTION, "parameters": _PARAMETERS},
    }


class RunKnowledge:
    """One agent's or team leader's knowledge base and what its runs do with it."""

    def __init__(self, base: KnowledgeSearch, *, search_tool: bool, add_to_context: bool, instructions: bool) -> None:
        self.base = base
        self.search_tool = search_tool
        self.add_to_context = add_to_context
        self.instructions = instructions and search_tool
        self._schema = search_tool_schema()
        self._toolbox_for: Toolbox | None = None
        self._others: tuple[dict[str, Tool], list[ToolSchema]] = ({}, [])

    def system_message(self, system: str | None) -> str | None:
        """The system message with the search instructions when the model gets the tool."""
        return with_search_instructions(system) if self.instructions else system

    async def search(
        self, query: str, filters: Mapping[str, Any] | None = None, *, user_id: str | None = None
    ) -> tuple[list[JSON], float]:
        """The documents found for ``query`` (with metadata matching ``filters``, when given; of
        the run's user ``user_id`` and shared, as Agno scopes a run's search) and the seconds the
        search took; raises what the base raises."""
        started = time.perf_counter()
        hits = await self.base.search(query, filters=filters or None, user_id=user_id)
        return [document(hit) for hit in hits], time.perf_counter() - started

    async def user_message(
        self,
        message: str,
        references: list[JSON],
        *,
        label: str,
        shown: str | None = None,
        filters: Mapping[str, Any] | None = None,
        user_id: str | None = None,
    ) -> str:
        """The user's message as the model reads it (``shown``, its placeholders resolved, else
        ``message``): with the references found for ``message``, when ``add_knowledge_to_context``;
        a failed search is logged and leaves it as it was."""
        text = message if shown is None else shown
        if not self.add_to_context:
            return text
        try:
            documents, elapsed = await self.search(message, filters, user_id=user_id)
        except AgentOSError as error:
            log.warning(
                "%s: knowledge base %s could not be searched for the user's message, answering without references: %s",
                label,
                self.base.id,
                error.detail,
            )
            return text
        except Exception:  # not the port's errors: a fault of the base, logged in full; the run still answers
            log.warning(
                "%s: searching knowledge base %s for the user's message failed, answering without references",
                label,
                self.base.id,
                exc_info=True,
            )
            return text
        if documents:
            references.append(message_references(message, documents, elapsed))
        return with_references(text, documents)

    def tool(
        self, references: list[JSON], filters: Mapping[str, Any] | None = None, *, user_id: str | None = None
    ) -> Tool:
        """``search_knowledge_base`` for one run (its searches keep to ``filters``, and to the
        contents of the run's user ``user_id`` and shared ones): what it finds joins ``references``."""
        base_id = self.base.id

        async def search_knowledge_base(query: str) -> str:
            try:
                documents, elapsed = await self.search(query, filters, user_id=user_id)
            except AgentOSError as error:
                raise KnowledgeSearchError(
                    f"knowledge base '{base_id}' could not be searched: {error.detail}"
                ) from error
            if documents:
                references.append(message_references(query, documents, elapsed))
            return format_documents(documents)

        return Tool(SEARCH_KNOWLEDGE_BASE, _DESCRIPTION, _PARAMETERS, search_knowledge_base)

    def tools(
        self,
        tools: Mapping[str, Tool],
        references: list[JSON],
        *,
        filters: Mapping[str, Any] | None = None,
        user_id: str | None = None,
    ) -> dict[str, Tool]:
        """A team leader's tools for one run, with ``search_knowledge_base`` when it gets the tool."""
        if not self.search_tool:
            return dict(tools)
        return {
            **{name: t for name, t in tools.items() if name != SEARCH_KNOWLEDGE_BASE},
            SEARCH_KNOWLEDGE_BASE: self.tool(references, filters, user_id=user_id),
        }

    def toolbox(
        self,
        base: Toolbox,
        references: list[JSON],
        *,
        filters: Mapping[str, Any] | None = None,
        user_id: str | None = None,
    ) -> Toolbox:
        """An agent's toolbox for one run, with ``search_knowledge_base`` when it gets the tool
        (it takes the place of any other tool of that name)."""
        if not self.search_tool:
            return base
        if base is not self._toolbox_for:
            self._toolbox_for = base
            others = {name: t for name, t in base.tools.items() if name != SEARCH_KNOWLEDGE_BASE}
            if len(others) != len(base.tools):
                log.warning("a tool named %s is left out: the knowledge search has the name", SEARCH_KNOWLEDGE_BASE)
            schemas = [s for s in base.schemas or () if s.get("function", {}).get("name") != SEARCH_KNOWLEDGE_BASE]
            self._others = (others, schemas)
        others, schemas = self._others
        return Toolbox(
            tools={**others, SEARCH_KNOWLEDGE_BASE: self.tool(references, filters, user_id=user_id)},
            schemas=[*schemas, self._schema],
            limit=base.limit,
        )


def run_knowledge_for(config: ComponentFields, base: KnowledgeSearch | None) -> RunKnowledge | None:
    """What ``config`` (an agent's or a team's) does with ``base``; ``None`` when nothing."""
    if base is None or not (config.search_knowledge or config.add_knowledge_to_context):
        return None
    return RunKnowledge(
        base,
        search_tool=config.search_knowledge,
        add_to_context=config.add_knowledge_to_context,
        instructions=config.system_message is None,
    )
