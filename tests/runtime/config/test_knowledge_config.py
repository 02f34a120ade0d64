"""Knowledge bases in the runtime file: defaults, and every mistake named at its field."""

from __future__ import annotations

import pytest
from agentos_runtime.config import ConfigError, parse_config_text
from agentos_runtime.config.knowledge import RefusedSource, find_refused_source

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


SOURCES = [None, "https://docs.example.com/a", "https://Wiki.Example.org:8443/b", "https://other.test/c"]


@pytest.mark.parametrize(
    ("allowed", "refused"),
    [
        (["docs.example.com", "*.example.org:8443", "other.test"], None),
        (
            ["docs.example.com", "*.example.org:8443"],
            RefusedSource(
                3,
                "host 'other.test' is not in allowed_hosts (docs.example.com, *.example.org:8443): add it"
                " (or a '*.' pattern covering it), or remove the source",
            ),
        ),
        (
            ["docs.example.com", "*.example.org:443", "other.test"],
            RefusedSource(
                2,
                "host 'wiki.example.org' is not in allowed_hosts (docs.example.com, *.example.org:443, other.test): add it"
                " (or a '*.' pattern covering it), or remove the source",
            ),
        ),
        (
            [],
            RefusedSource(
                1,
                "host 'docs.example.com' is not in allowed_hosts (none): add it (or a '*.' pattern covering it),"
                " or remove the source",
            ),
        ),
    ],
)
def test_the_first_source_url_off_the_allowed_hosts_is_named_and_sources_without_a_url_are_skipped(
    allowed: list[str], refused: RefusedSource | None
) -> None:
    assert find_refused_source(SOURCES, allowed, hosts_field="allowed_hosts") == refused


@pytest.mark.parametrize(
    "url", ["https://docs.example.com:99999/a", "https://docs.example.com:port/a", "https://[::1/a"]
)
def test_a_source_url_without_a_usable_host_or_port_is_not_a_valid_url(url: str) -> None:
    refused = find_refused_source([url], ["docs.example.com"], hosts_field="allowedHosts")

    assert refused == RefusedSource(0, "not a valid URL: check its host and port")


def test_a_source_url_holding_a_control_character_is_refused_saying_so_without_quoting_it() -> None:
    url = "https://user:secret@docs.example.com/a\r\nX-Injected: 1"

    refused = find_refused_source([url], ["docs.example.com"], hosts_field="allowedHosts")

    assert refused == RefusedSource(
        0, "the URL holds a control character ('\\r') at position 38: remove it, or percent-encode it"
    )


def test_a_sources_metadata_over_64_kib_is_refused_at_its_field_saying_it_is_copied_into_every_chunk() -> None:
    blob = "n" * (64 * 1024)
    problems = problems_of(
        "knowledge_bases:\n"
        "  - id: handbook\n"
        f"    sources: [{{path: /docs, metadata: {{team: hr}}}}, {{path: /more, metadata: {{notes: {blob}}}}}]\n"
        "agents: [{id: a, knowledge: handbook}]\n"
    )

    assert list(problems) == ["knowledge_bases.0.sources.1.metadata"]
    assert problems["knowledge_bases.0.sources.1.metadata"].startswith("65,548 bytes of metadata, over the 64 KiB")
