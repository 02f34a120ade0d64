"""Knowledge bases in the runtime file: defaults, and every mistake named at its field."""

from __future__ import annotations

import pytest
from agentos_runtime.config import ConfigError, parse_config_text

BASE = """
models: [{id: gpt}]
"""


def problems_of(text: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        parse_config_text(BASE + text)
    return {".".join(str(p) for p in problem.path): problem.message for problem in caught.value.problems}


def test_a_knowledge_base_needs_only_an_id_and_takes_agnos_defaults() -> None:
    config = parse_config_text(BASE + "knowledge_bases: [{id: handbook}]\nagents: [{id: a, knowledge: handbook}]\n")
    base = config.knowledge_bases[0]
    assert (base.table_name, base.embedder.model, base.embedder.dimensions) == (
        "knowledge_handbook",
        "text-embedding-3-small",
        1536,
    )
    assert (base.chunking.strategy, base.chunking.size, base.max_results, base.allowed_hosts) == (
        "recursive",
        5000,
        10,
        [],
    )
    agent = config.agents[0]
    assert (agent.knowledge, agent.search_knowledge, agent.add_knowledge_to_context) == ("handbook", True, False)


def test_an_unknown_knowledge_base_is_named_at_the_agent_that_refers_to_it() -> None:
    problems = problems_of(
        "knowledge_bases: [{id: handbook}]\nteams: [{id: t, members: [a], knowledge: hr}]\nagents: [{id: a}]\n"
    )
    assert "unknown knowledge base 'hr'" in problems["teams.0.knowledge"]


def test_knowledge_cannot_live_on_redis() -> None:
    problems = problems_of("databases: [{id: cache, type: redis}]\nknowledge_bases: [{id: handbook}]\n")
    assert "sqlite or postgres" in problems["knowledge_bases.0.db"]


def test_two_bases_cannot_share_a_table_and_ids_are_unique() -> None:
    problems = problems_of("knowledge_bases: [{id: a, table: docs}, {id: b, table: docs}, {id: a, table: other}]\n")
    assert "already used by knowledge base 'a'" in problems["knowledge_bases.1.table"]
    assert "duplicate id 'a'" in problems["knowledge_bases.2.id"]


@pytest.mark.parametrize(
    ("entry", "field", "words"),
    [
        ("{id: k, chunking: {size: 100, overlap: 100}}", "knowledge_bases.0.chunking", "smaller than size"),
        ("{id: k, sources: [{path: /docs, url: 'https://x.example'}]}", "knowledge_bases.0.sources.0", "exactly one"),
        ("{id: k, embedder: {dimensions: 20000}}", "knowledge_bases.0.embedder.dimensions", "16000"),
        ("{id: k, table: Bad-Name}", "knowledge_bases.0.table", "pattern"),
        ("{id: k, sources: [{url: 'https://evil.example/x'}]}", "knowledge_bases.0", "host 'evil.example' is not in"),
        (
            "{id: k, allowed_hosts: [docs.example], sources: [{url: 'https://docs.example/a'}, {url: 'http://x.example'}]}",
            "knowledge_bases.0",
            "sources[1].url refused: host 'x.example'",
        ),
    ],
)
def test_bad_settings_are_named_at_their_field(entry: str, field: str, words: str) -> None:
    problems = problems_of(f"knowledge_bases: [{entry}]\n")
    assert field in problems and words in problems[field], problems
