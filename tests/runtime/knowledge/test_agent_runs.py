"""An agent with a knowledge base: the model searches it with ``search_knowledge_base``, or the
chunks found for the user's message are added to it (``add_knowledge_to_context``).

The model is the local OpenAI-compatible server, reached through the OpenAI SDK as in
production; the knowledge base is the search port over a few handbook chunks, and at the end a
real knowledge base (uploaded, chunked, embedded and searched) on SQLite with sqlite-vec and
PostgreSQL with pgvector. The tool's result and the references block are compared with what
Agno's own code makes of the same chunks.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from agentos_runtime.errors import ModelConnectionError, StorageUnavailable
from agentos_runtime.knowledge.base import Upload
from agentos_runtime.knowledge.records import SearchHit
from agentos_runtime.runs import RunRequest
from agentos_runtime.runs.knowledge import NO_DOCUMENTS, REFERENCES_INTRO
from agentos_runtime.runs.pausing import Decision, PausedRun
from agentos_runtime.runs.requests import RunOptions
from agno.run.agent import RunCompletedEvent, RunOutput, run_output_event_from_dict

from tests.runtime.knowledge.hubs import KnowledgeSpace, knowledge_space, provider_error
from tests.runtime.knowledge.run_setup import (
    Warnings,
    build_problem,
    fake_openai,
    fake_openai_server,
    impostor_plugin,
    knowledge_warnings,
    run_once,
    stored_session,
)
from tests.runtime.knowledge.search_fakes import LAPTOPS, VACATION, HandbookBase, built, runtime_file, search_call
from tests.support.fake_openai import FakeOpenAIServer, FakeToolCall, Reply

__all__ = ["fake_openai", "fake_openai_server", "impostor_plugin", "knowledge_warnings"]

JSON = dict[str, Any]


def agent_file(base_url: str, **agent: Any) -> JSON:
    return runtime_file(base_url, agents=[{"id": "helpdesk", "model": "fake", "knowledge": "handbook", **agent}])


async def answer_beside_a_failing_context_search(server: FakeOpenAIServer, failure: Exception, answer: str) -> JSON:
    """The helpdesk's output for "Vacation?" when it adds knowledge to the context (no search tool),
    its base fails with ``failure`` and the model answers ``answer``."""
    server.script(Reply.say(answer))
    file = agent_file(server.base_url, search_knowledge=False, add_knowledge_to_context=True)
    _, output = await run_once(file, HandbookBase(failure=failure), "helpdesk", RunRequest(message="Vacation?"))
    return output


def agno_documents(hits: Sequence[SearchHit]) -> list[JSON]:
    """Agno's ``Document.to_dict()`` of the chunks its ``PgVector`` search returns for ``hits``."""
    from agno.knowledge.document import Document

    return [
        Document(
            name=hit.name, meta_data={**hit.meta_data, "similarity_score": 1.0 - hit.distance}, content=hit.content
        ).to_dict()
        for hit in hits
    ]


class AgnoRetriever:
    """What Agno's agent searches through (its knowledge protocol), answering with fixed documents."""

    def __init__(self, hits: Sequence[SearchHit]) -> None:
        self.hits = list(hits)
        self.max_results = len(self.hits)

    async def aretrieve(self, query: str, max_results: int | None = None, filters: Any = None) -> list[Any]:
        from agno.knowledge.document import Document

        return [Document.from_dict(document) for document in agno_documents(self.hits)]


async def agno_tool_result(hits: Sequence[SearchHit], query: str) -> tuple[str, list[JSON]]:
    """What Agno's own ``search_knowledge_base`` returns for ``hits``, and the references it keeps."""
    from agno.agent import Agent as AgnoAgent
    from agno.agent._default_tools import create_knowledge_search_tool
    from agno.run.agent import RunOutput

    output = RunOutput(run_id="agno-run")
    tool = create_knowledge_search_tool(AgnoAgent(knowledge=AgnoRetriever(hits)), run_response=output, async_mode=True)
    assert tool.entrypoint is not None
    result = await tool.entrypoint(query=query)
    return result, output.to_dict().get("references", [])


async def agno_user_message(hits: Sequence[SearchHit], message: str, *, state: JSON | None = None) -> str:
    """The user message Agno's agent with ``add_knowledge_to_context`` sends for ``hits`` (in a
    run whose session state is ``state``)."""
    from agno.agent import Agent as AgnoAgent
    from agno.agent._messages import aget_user_message
    from agno.run import RunContext
    from agno.run.agent import RunOutput

    agent = AgnoAgent(knowledge=AgnoRetriever(hits), add_knowledge_to_context=True, search_knowledge=False)
    context = RunContext(run_id="agno-run", session_id="s", session_state=state)
    built_message = await aget_user_message(
        agent, run_response=RunOutput(run_id="agno-run"), run_context=context, input=message
    )
    assert built_message is not None and isinstance(built_message.content, str)
    return built_message.content


def split_references(text: str) -> tuple[str, list[JSON]]:
    """A user message with references: the text before them, and the documents inside ``<references>``."""
    before, _, rest = text.partition(f"\n\n{REFERENCES_INTRO}\n<references>\n")
    block, end, after = rest.rpartition("\n</references>")
    assert end and after == "", text
    documents: list[JSON] = json.loads(block)
    return before, documents


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "not-streamed"])
async def test_the_model_searches_the_knowledge_base_reads_the_chunk_and_cites_it(
    fake_openai: FakeOpenAIServer, stream: bool
) -> None:
    base = HandbookBase()
    fake_openai.script(
        Reply.call(search_call("paid vacation days")), Reply.say("You get 25 days of paid vacation.", chunks=3)
    )
    request = RunRequest(message="How much vacation do I get?", session_id="s1")
    events, output = await run_once(agent_file(fake_openai.base_url), base, "helpdesk", request, stream=stream)

    assert base.queries == ["paid vacation days"]
    first, second = fake_openai.bodies
    assert [tool["function"]["name"] for tool in first["tools"]] == ["search_knowledge_base"]
    assert "search_knowledge_base tool" in first["messages"][0]["content"]
    assert first["messages"][-1] == {"role": "user", "content": "How much vacation do I get?"}
    found = json.loads(second["messages"][-1]["content"])
    assert len(found) == 2 and found[0]["content"] == VACATION
    assert found[0]["name"] == "handbook.md" and found[0]["meta_data"]["department"] == "hr"
    assert 0.0 < found[1]["meta_data"]["similarity_score"] < found[0]["meta_data"]["similarity_score"] <= 1.0
    assert output["status"] == "COMPLETED" and output["content"] == "You get 25 days of paid vacation."
    (tool,) = output["tools"]
    assert (tool["tool_name"], tool["tool_args"], tool["tool_call_error"]) == (
        "search_knowledge_base",
        {"query": "paid vacation days"},
        False,
    )
    assert json.loads(tool["result"]) == found
    (reference,) = output["references"]
    assert reference["query"] == "paid vacation days" and reference["references"] == found
    assert isinstance(reference["time"], float) and reference["time"] >= 0.0
    if stream:
        names = [event["event"] for event in events]
        assert names.index("ToolCallStarted") < names.index("ToolCallCompleted") < names.index("RunCompleted")
        assert events[-1]["references"] == output["references"]
        completed = run_output_event_from_dict(events[-1])
        assert isinstance(completed, RunCompletedEvent) and completed.references is not None
        assert [r.model_dump() for r in completed.references] == output["references"]
    parsed = RunOutput.from_dict(dict(output))
    assert parsed.references is not None and [r.model_dump() for r in parsed.references] == output["references"]


async def test_the_tool_schema_result_and_references_are_agnos(fake_openai: FakeOpenAIServer) -> None:
    base = HandbookBase()
    hits = await HandbookBase().search("expenses approval")
    fake_openai.script(Reply.call(search_call("expenses approval")), Reply.say("A manager approves them."))
    file = agent_file(fake_openai.base_url)
    _, output = await run_once(file, base, "helpdesk", RunRequest(message="Who approves expenses?"))

    from agno.agent import Agent as AgnoAgent
    from agno.agent._default_tools import create_knowledge_search_tool

    agno_tool = create_knowledge_search_tool(AgnoAgent(knowledge=AgnoRetriever(hits)), async_mode=True)
    agno_tool.process_entrypoint()
    assert fake_openai.bodies[0]["tools"] == [{"type": "function", "function": agno_tool.to_dict()}]
    agno_result, agno_references = await agno_tool_result(hits, "expenses approval")
    ours = output["tools"][0]["result"]
    assert json.loads(ours) == json.loads(agno_result)
    assert ours.startswith("[\n  {\n    ") and agno_result.startswith("[\n  {\n    ")
    assert [{k: v for k, v in r.items() if k != "time"} for r in output["references"]] == [
        {k: v for k, v in r.items() if k != "time"} for r in agno_references
    ]


async def test_a_search_that_finds_nothing_answers_with_agnos_text_and_keeps_no_references(
    fake_openai: FakeOpenAIServer,
) -> None:
    fake_openai.script(Reply.call(search_call("parking")), Reply.say("The handbook says nothing about parking."))
    file = agent_file(fake_openai.base_url)
    _, output = await run_once(file, HandbookBase([]), "helpdesk", RunRequest(message="Where do I park?"))

    assert fake_openai.bodies[1]["messages"][-1]["content"] == NO_DOCUMENTS
    assert output["tools"][0]["result"] == NO_DOCUMENTS and output["tools"][0]["tool_call_error"] is False
    assert "references" not in output


@pytest.mark.parametrize(
    "failure",
    [
        ModelConnectionError("embedding model 'text-embedding-3-small': connection refused"),
        StorageUnavailable("database 'docs' is unavailable"),
    ],
    ids=["embedder-down", "database-down"],
)
@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "not-streamed"])
async def test_a_search_that_fails_is_an_error_result_the_model_reads_and_the_run_completes(
    fake_openai: FakeOpenAIServer, failure: Exception, stream: bool
) -> None:
    assert isinstance(failure, ModelConnectionError | StorageUnavailable)
    base = HandbookBase(failure=failure)
    fake_openai.script(Reply.call(search_call("vacation")), Reply.say("I could not search the handbook right now."))
    request = RunRequest(message="Vacation?", session_id="s1")
    _, output = await run_once(agent_file(fake_openai.base_url), base, "helpdesk", request, stream=stream)

    read = fake_openai.bodies[1]["messages"][-1]["content"]
    assert read == (f"Error: KnowledgeSearchError: knowledge base 'handbook' could not be searched: {failure.detail}")
    assert output["status"] == "COMPLETED" and output["content"] == "I could not search the handbook right now."
    assert output["tools"][0]["tool_call_error"] is True and output["tools"][0]["result"] == read
    assert "references" not in output


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "not-streamed"])
async def test_knowledge_added_to_context_puts_the_chunks_found_into_the_users_message(
    fake_openai: FakeOpenAIServer, stream: bool
) -> None:
    base = HandbookBase()
    fake_openai.script(Reply.say("25 days, and unused days carry over until March."))
    file = agent_file(fake_openai.base_url, search_knowledge=False, add_knowledge_to_context=True)
    request = RunRequest(message="vacation days carry over?", session_id="s1")
    events, output = await run_once(file, base, "helpdesk", request, stream=stream)

    assert base.queries == ["vacation days carry over?"]
    (body,) = fake_openai.bodies
    assert "tools" not in body
    assert all("search_knowledge_base" not in (m["content"] or "") for m in body["messages"] if m["role"] == "system")
    asked, documents = split_references(body["messages"][-1]["content"])
    assert asked == "vacation days carry over?"
    assert len(documents) == 2 and documents[0]["content"] == VACATION
    (reference,) = output["references"]
    assert reference["query"] == "vacation days carry over?" and reference["references"] == documents
    assert output["input"] == {"input_content": "vacation days carry over?"}
    user = [m for m in output["messages"] if m["role"] == "user"]
    assert user[0]["content"] == body["messages"][-1]["content"]
    if stream:
        assert events[-1]["event"] == "RunCompleted" and events[-1]["references"] == output["references"]


async def test_the_references_block_is_the_one_agno_writes(fake_openai: FakeOpenAIServer) -> None:
    message = "Who approves expenses above 500 euros?"
    hits = await HandbookBase().search(message)
    fake_openai.script(Reply.say("A manager."))
    file = agent_file(fake_openai.base_url, search_knowledge=False, add_knowledge_to_context=True)
    await run_once(file, HandbookBase(), "helpdesk", RunRequest(message=message))

    ours = fake_openai.bodies[0]["messages"][-1]["content"]
    agno = await agno_user_message(hits, message)
    assert split_references(ours) == split_references(agno)
    assert len(ours) == len(agno)


async def test_the_base_is_searched_with_the_message_as_written_and_the_model_reads_it_resolved(
    fake_openai: FakeOpenAIServer,
) -> None:
    message = "Which expenses need approval, {name}?"
    hits = await HandbookBase().search(message)
    base = HandbookBase()
    fake_openai.script(Reply.say("Those above 500 euros."))
    file = agent_file(fake_openai.base_url, search_knowledge=False, add_knowledge_to_context=True)
    await run_once(file, base, "helpdesk", RunRequest(message=message, session_state={"name": "Ana"}))

    assert base.queries == [message]
    ours = fake_openai.bodies[0]["messages"][-1]["content"]
    assert split_references(ours)[0] == "Which expenses need approval, Ana?"
    assert split_references(ours) == split_references(await agno_user_message(hits, message, state={"name": "Ana"}))


async def test_a_failed_search_for_the_context_is_logged_and_the_model_answers_without_references(
    fake_openai: FakeOpenAIServer, knowledge_warnings: Warnings
) -> None:
    failure = ModelConnectionError("embedding model 'text-embedding-3-small': timed out")
    output = await answer_beside_a_failing_context_search(fake_openai, failure, "I am not sure, please ask HR.")

    assert fake_openai.bodies[0]["messages"][-1] == {"role": "user", "content": "Vacation?"}
    assert output["status"] == "COMPLETED" and "references" not in output
    (warning,) = knowledge_warnings()
    assert "agent helpdesk" in warning.getMessage() and "handbook" in warning.getMessage()
    assert "timed out" in warning.getMessage()


async def test_both_ways_at_once_search_the_message_first_and_offer_the_tool(fake_openai: FakeOpenAIServer) -> None:
    base = HandbookBase()
    fake_openai.script(Reply.call(search_call("laptop replacement")), Reply.say("IT orders it."))
    file = agent_file(fake_openai.base_url, add_knowledge_to_context=True)
    _, output = await run_once(file, base, "helpdesk", RunRequest(message="My laptop broke"))

    assert base.queries == ["My laptop broke", "laptop replacement"]
    assert [r["query"] for r in output["references"]] == ["My laptop broke", "laptop replacement"]
    assert REFERENCES_INTRO in fake_openai.bodies[0]["messages"][-1]["content"]
    assert [tool["function"]["name"] for tool in fake_openai.bodies[0]["tools"]] == ["search_knowledge_base"]


async def test_the_tool_comes_after_the_agents_own_tools_and_a_fixed_system_message_gets_no_instructions(
    fake_openai: FakeOpenAIServer,
) -> None:
    fake_openai.script(Reply.say("Hello."))
    file = agent_file(fake_openai.base_url, tools=["calculator"], system_message="You are the helpdesk.")
    await run_once(file, HandbookBase(), "helpdesk", RunRequest(message="Hi"))

    (body,) = fake_openai.bodies
    assert [tool["function"]["name"] for tool in body["tools"]] == ["calculator", "search_knowledge_base"]
    assert body["messages"][0] == {"role": "system", "content": "You are the helpdesk."}


async def test_references_are_stored_with_the_run_in_the_session(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.call(search_call("vacation")), Reply.say("25 days."))
    row = await stored_session(agent_file(fake_openai.base_url), HandbookBase(), "helpdesk", "Vacation?")

    assert row is not None and row.runs is not None
    (stored,) = row.runs
    assert stored["references"][0]["query"] == "vacation"
    assert stored["references"][0]["references"][0]["content"] == VACATION


async def test_an_agent_without_knowledge_gets_no_search_and_pays_nothing(fake_openai: FakeOpenAIServer) -> None:
    base = HandbookBase()
    fake_openai.script(Reply.say("Hi."))
    file = runtime_file(fake_openai.base_url, agents=[{"id": "plain", "model": "fake"}])
    async with built(file, {"handbook": base}) as runtime:
        agent = runtime.agents["plain"]
        output = await agent.complete(RunRequest(message="Hello"))

    assert agent.knowledge is None and base.queries == []
    assert "tools" not in fake_openai.bodies[0] and "references" not in output


async def test_knowledge_off_both_ways_leaves_the_agent_without_it(fake_openai: FakeOpenAIServer) -> None:
    file = agent_file(fake_openai.base_url, search_knowledge=False, add_knowledge_to_context=False)
    async with built(file, {"handbook": HandbookBase()}) as runtime:
        assert runtime.agents["helpdesk"].knowledge is None


async def test_the_runs_knowledge_filters_keep_the_search_tool_and_the_context_search_to_matching_chunks(
    fake_openai: FakeOpenAIServer,
) -> None:
    base = HandbookBase()
    fake_openai.script(Reply.call(search_call("vacation days")), Reply.say("Ask HR."))
    file = agent_file(fake_openai.base_url, add_knowledge_to_context=True)
    request = RunRequest(message="vacation days?", knowledge_filters={"department": "it"})
    _, output = await run_once(file, base, "helpdesk", request)

    assert base.filters == [{"department": "it"}, {"department": "it"}]
    _, in_context = split_references(fake_openai.bodies[0]["messages"][-1]["content"])
    found = json.loads(fake_openai.bodies[1]["messages"][-1]["content"])
    assert [d["content"] for d in in_context] == [d["content"] for d in found] == [LAPTOPS]
    assert [r["query"] for r in output["references"]] == ["vacation days?", "vacation days"]


async def test_a_runs_searches_keep_to_its_users_contents_and_shared_ones_as_agno_scopes_them(
    fake_openai: FakeOpenAIServer,
) -> None:
    base = HandbookBase()
    fake_openai.script(Reply.call(search_call("vacation days")), Reply.say("Ask HR."))
    file = agent_file(fake_openai.base_url, add_knowledge_to_context=True)
    await run_once(file, base, "helpdesk", RunRequest(message="vacation days?", user_id="bob"))

    assert base.user_ids == ["bob", "bob"], "the context search, then the tool's"


async def test_a_member_agent_searches_with_the_team_runs_knowledge_filters(fake_openai: FakeOpenAIServer) -> None:
    base = HandbookBase()
    file = runtime_file(
        fake_openai.base_url,
        agents=[{"id": "helpdesk", "model": "fake", "knowledge": "handbook"}],
        teams=[{"id": "desk", "model": "lead", "mode": "route", "members": ["helpdesk"]}],
    )
    delegate = json.dumps({"member_id": "helpdesk", "task": "How many vacation days?"})
    fake_openai.script(
        Reply.call(FakeToolCall("delegate_task_to_member", delegate)),
        Reply.call(search_call("vacation days")),
        Reply.say("25 days."),
    )
    await run_once(file, base, "desk", RunRequest(message="Vacation?", knowledge_filters={"department": "hr"}))

    assert base.filters == [{"department": "hr"}]


async def test_a_workflow_step_agent_searches_with_the_workflow_runs_knowledge_filters(
    fake_openai: FakeOpenAIServer,
) -> None:
    base = HandbookBase()
    file = runtime_file(
        fake_openai.base_url,
        agents=[{"id": "helpdesk", "model": "fake", "knowledge": "handbook"}],
        workflows=[{"id": "flow", "steps": [{"name": "answer", "agent": "helpdesk"}]}],
    )
    fake_openai.script(Reply.call(search_call("vacation days")), Reply.say("25 days."))
    await run_once(file, base, "flow", RunRequest(message="Vacation?", knowledge_filters={"department": "hr"}))

    assert base.filters == [{"department": "hr"}]


async def test_an_agent_run_going_on_after_a_pause_searches_with_the_filters_the_continue_sends_for_its_user(
    fake_openai: FakeOpenAIServer,
) -> None:
    base = HandbookBase()
    add = FakeToolCall("calculator", json.dumps({"expression": "2 + 3"}), id="c1")
    file = agent_file(fake_openai.base_url, tools=["calculator"])
    file["agents"][0]["tool_config"] = {"calculator": {"requires_confirmation": True}}
    fake_openai.script(Reply.call(add), Reply.call(search_call("vacation days", call_id="c2")), Reply.say("25 days."))
    async with built(file, {"handbook": base}) as runtime:
        agent = runtime.agents["helpdesk"]
        paused = await agent.complete(RunRequest(message="Vacation?", session_id="s1", user_id="bob"))
        assert paused["status"] == "PAUSED"
        going_on = PausedRun(
            paused,
            {"c1": Decision("c1", True)},
            session_id="s1",
            user_id="bob",
            options=RunOptions(knowledge_filters={"department": "hr"}),
        )
        output = await agent.complete_continued(going_on)

    assert output["status"] == "COMPLETED", output
    assert base.filters == [{"department": "hr"}]
    assert base.user_ids == ["bob"], "and to the run's user's contents and shared ones"


async def test_a_member_agent_keeps_its_knowledge_when_a_team_runs_it(fake_openai: FakeOpenAIServer) -> None:
    base = HandbookBase()
    file = runtime_file(
        fake_openai.base_url,
        agents=[{"id": "helpdesk", "model": "fake", "knowledge": "handbook"}],
        teams=[{"id": "desk", "model": "lead", "mode": "route", "members": ["helpdesk"]}],
    )
    delegate = json.dumps({"member_id": "helpdesk", "task": "How many vacation days?"})
    fake_openai.script(
        Reply.call(FakeToolCall("delegate_task_to_member", delegate)),
        Reply.call(search_call("vacation days")),
        Reply.say("25 days."),
    )
    _, output = await run_once(file, base, "desk", RunRequest(message="Vacation?"))

    assert base.queries == ["vacation days"]
    (member,) = output["member_responses"]
    assert member["references"][0]["query"] == "vacation days"
    assert output["content"] == "25 days." and "references" not in output


async def test_a_base_that_was_not_opened_is_a_config_problem_at_the_agents_path(
    fake_openai: FakeOpenAIServer,
) -> None:
    problem = await build_problem(agent_file(fake_openai.base_url), {})
    assert problem == "agents[0].knowledge: knowledge base 'handbook' is not open"


async def test_without_opened_bases_the_agent_is_built_without_knowledge(fake_openai: FakeOpenAIServer) -> None:
    async with built(agent_file(fake_openai.base_url), None) as runtime:
        assert runtime.agents["helpdesk"].knowledge is None


@pytest.mark.usefixtures("impostor_plugin")
async def test_an_own_tool_named_like_the_knowledge_search_is_refused_unless_search_is_off(
    fake_openai: FakeOpenAIServer,
) -> None:
    problem = await build_problem(agent_file(fake_openai.base_url, tools=["search_knowledge_base"]), HandbookBase())
    assert problem == (
        "agents[0].tools: a tool named 'search_knowledge_base' would hide the knowledge search: "
        "rename it (tool_name_prefix) or set search_knowledge to false"
    )
    file = agent_file(
        fake_openai.base_url, tools=["search_knowledge_base"], search_knowledge=False, add_knowledge_to_context=True
    )
    async with built(file, {"handbook": HandbookBase()}) as runtime:
        assert runtime.agents["helpdesk"].knowledge is not None


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "not-streamed"])
async def test_on_a_real_knowledge_base_the_model_finds_the_uploaded_chunk_and_cites_it(
    fake_openai: FakeOpenAIServer, space: KnowledgeSpace, stream: bool
) -> None:
    hub = await space.open(space.base("handbook"))
    handbook = hub["handbook"]
    added = await handbook.add(Upload(name="vacation.md", text=VACATION, metadata={"department": "hr"}))
    await handbook.add(Upload(name="laptops.md", text=LAPTOPS))
    await handbook.wait_idle()
    fake_openai.script(Reply.call(search_call("paid vacation days")), Reply.say("25 days (vacation.md)."))
    request = RunRequest(message="Vacation?", session_id="real")
    _, output = await run_once(agent_file(fake_openai.base_url), hub, "helpdesk", request, stream=stream)

    found = json.loads(fake_openai.bodies[1]["messages"][-1]["content"])
    assert found[0]["content"] == VACATION and found[0]["name"] == "vacation.md"
    assert found[0]["meta_data"]["department"] == "hr"
    assert found[0]["meta_data"]["similarity_score"] > found[1]["meta_data"]["similarity_score"]
    assert output["status"] == "COMPLETED" and output["content"] == "25 days (vacation.md)."
    assert output["references"][0]["references"] == found
    assert (await handbook.get(added.id)).status == "completed"


async def test_on_a_real_knowledge_base_an_embedder_failure_is_the_error_result_the_model_reads(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    async with knowledge_space("sqlite", tmp_path) as space:
        hub = await space.open(space.base("handbook"))
        space.embedder.fail_with = provider_error("the embeddings endpoint answered 500")
        fake_openai.script(Reply.call(search_call("vacation")), Reply.say("The handbook is unavailable."))
        _, output = await run_once(agent_file(fake_openai.base_url), hub, "helpdesk", RunRequest(message="Vacation?"))

    assert output["status"] == "COMPLETED" and output["tools"][0]["tool_call_error"] is True
    assert output["tools"][0]["result"].startswith("Error: KnowledgeSearchError: knowledge base 'handbook' could not")
    assert output["tools"][0]["result"].endswith("the embeddings endpoint answered 500")


async def test_a_fault_of_the_base_while_searching_for_the_context_is_logged_in_full_and_the_run_answers(
    fake_openai: FakeOpenAIServer, knowledge_warnings: Warnings
) -> None:
    output = await answer_beside_a_failing_context_search(fake_openai, KeyError("vector column"), "Please ask HR.")

    assert output["status"] == "COMPLETED" and fake_openai.bodies[0]["messages"][-1]["content"] == "Vacation?"
    (warning,) = knowledge_warnings()
    assert warning.exc_info is not None and isinstance(warning.exc_info[1], KeyError)
