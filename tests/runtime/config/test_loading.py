"""Loading the runtime config file: Agno's keys kept, every problem reported with its path."""

from pathlib import Path

import pytest
from agentos_runtime.config import ConfigError, dump_config, load_config, parse_config, parse_config_text

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "runtime"


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config_text(text)
    return [str(p) for p in caught.value.problems]


def test_the_guide_appendix_loads_unchanged_with_utf8_preserved() -> None:
    config = load_config(EXAMPLES / "guide-appendix.yaml")
    assert config.memory is not None and config.memory.dbs is not None
    assert config.memory.dbs[0].db_id == "postgres-db"
    assert config.memory.dbs[0].domain_config is not None
    assert config.memory.dbs[0].domain_config.display_name == "用户记忆存储"
    assert config.session is not None and config.session.dbs is not None
    assert config.session.dbs[0].domain_config is not None
    assert config.session.dbs[0].domain_config.display_name == "会话缓存"
    assert config.chat is not None and config.chat.quick_prompts is not None
    assert config.chat.quick_prompts["my-agent"][0] == "你好，你能做什么？"


def test_every_instruction_of_the_examples_is_a_whole_sentence() -> None:
    # `instructions: [Write a short, plain answer.]` is YAML for two items, split at the comma.
    configs = [load_config(path) for path in sorted(EXAMPLES.glob("*.yaml"))]
    members = [member for config in configs for member in [*(config.agents or []), *(config.teams or [])]]
    lines = [
        line
        for member in members
        for line in ([member.instructions] if isinstance(member.instructions, str) else member.instructions or [])
    ]
    assert len(lines) >= 3
    assert [line for line in lines if not line.rstrip().endswith((".", "?", "!", ":"))] == []


def test_dumping_and_loading_again_gives_an_equal_config() -> None:
    for path in EXAMPLES.glob("*.yaml"):
        config = load_config(path)
        text = dump_config(config)
        assert "会话缓存" in text or path.name != "guide-appendix.yaml"
        assert parse_config_text(text) == config


def test_an_empty_file_is_a_valid_config_with_nothing_declared() -> None:
    config = parse_config(None)
    assert config.agents == [] and config.databases == []


def test_an_unknown_model_reference_names_the_agent_path() -> None:
    problems = problems_of("models: [{id: gpt-4o}]\nagents: [{id: a}, {id: b}, {id: c, model: gpt-5}]")
    assert problems == ["agents[2].model: unknown model 'gpt-5': declare it in models or fix the id"]


def test_a_misspelt_key_is_an_error_not_silently_ignored() -> None:
    assert problems_of("agents: [{id: a, instructons: [hi]}]") == [
        "agents[0].instructons: unknown field: remove it or check its spelling"
    ]


def test_duplicate_ids_are_reported_at_the_second_occurrence() -> None:
    problems = problems_of("models: [{id: m}, {id: m}]")
    assert problems == ["models[1].id: duplicate id 'm': ids must be unique"]


def test_every_reference_problem_is_reported_at_once() -> None:
    problems = problems_of(
        """
models: [{id: m}]
agents: [{id: a, db: nowhere}]
teams: [{id: t, members: [a, ghost]}]
workflows: [{id: w, steps: [{name: s1, team: nope}]}]
session: {dbs: [{db_id: missing}]}
chat: {quick_prompts: {stranger: [hi]}}
"""
    )
    assert problems == [
        "agents[0].db: unknown database 'nowhere': declare it in databases or fix the id",
        "teams[0].members[1]: unknown agent or team 'ghost': declare it in agents or teams or fix the id",
        "workflows[0].steps[0].team: unknown team 'nope': declare it in teams or fix the id",
        "session.dbs[0].db_id: unknown database 'missing': declare it in databases or fix the id",
        "chat.quick_prompts.stranger: unknown agent, team or workflow 'stranger': quick prompts are keyed by their ids",
    ]


def test_teams_that_contain_each_other_are_rejected() -> None:
    problems = problems_of(
        "models: [{id: m}]\nagents: [{id: a}]\nteams: [{id: t1, members: [t2]}, {id: t2, members: [t1, a]}]"
    )
    assert "teams[0].members: team 't1' contains itself through its members" in problems


def test_an_agent_without_any_model_declared_is_told_to_add_one() -> None:
    assert problems_of("agents: [{id: a}]") == ["agents[0].model: no model declared: add one to models"]


def test_camel_case_keys_are_not_accepted_in_the_runtime_file() -> None:
    problems = problems_of("availableModels: [x]")
    assert problems == ["availableModels: unknown field: remove it or check its spelling"]


def test_invalid_yaml_reports_line_and_column() -> None:
    problems = problems_of("agents: [\n  {id: a\n")
    assert len(problems) == 1 and "<config>:" in problems[0] and "not valid YAML" in problems[0]


def test_a_workflow_step_must_name_exactly_one_executor() -> None:
    problems = problems_of(
        "models: [{id: m}]\nagents: [{id: a}]\nworkflows: [{id: w, steps: [{name: s, agent: a, team: t}]}]"
    )
    assert problems == ["workflows[0].steps[0]: set exactly one of agent, team, parallel, condition"]
