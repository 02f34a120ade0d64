"""How ``agentos validate`` finds the problems a schema error hides: which fields it sets aside, and which findings it keeps."""

import typing
from typing import Any

from agentos_operator.spec import AgentOSConfigSpec
from agentos_runtime.config import Problem, RuntimeConfig
from agentos_runtime.config.checking import (
    DECLARATIONS,
    MISSING,
    data_path,
    every_problem,
    removable_field,
    stand_in_id,
    valid_id,
    with_fields,
    without_fields,
)

CONFIG: dict[str, Any] = {
    "models": [{"id": "gpt-4o", "apiKeySecretRef": {"key": "api-key"}}],
    "databases": [{"id": "pg", "type": "postgres"}],
    "agents": [{"id": "a", "model": "gpt-4o", "bogus": 1, "tools": ["calculator", 5]}],
}


def test_a_union_member_named_between_real_keys_is_left_out_of_the_path() -> None:
    assert data_path(CONFIG, ("databases", 0, "postgres", "type")) == ("databases", 0, "type")
    assert data_path(CONFIG, ("agents", 0, "str", "model")) == ("agents", 0, "model")


def test_a_path_to_a_missing_field_is_kept_as_given_from_where_the_data_ends() -> None:
    assert data_path(CONFIG, ("models", 0, "apiKeySecretRef", "name")) == ("models", 0, "apiKeySecretRef", "name")
    assert data_path(CONFIG, ("teams", 0, "members")) == ("teams", 0, "members")


def test_a_field_inside_a_declaration_is_set_aside() -> None:
    assert removable_field(CONFIG, ("agents", 0, "bogus")) == ("agents", 0, "bogus")


def test_a_missing_field_sets_aside_the_field_that_holds_it() -> None:
    path = ("models", 0, "apiKeySecretRef", "name")
    assert removable_field(CONFIG, path) == ("models", 0, "apiKeySecretRef")


def test_a_list_item_sets_aside_the_list_that_holds_it() -> None:
    assert removable_field(CONFIG, ("agents", 0, "tools", 1)) == ("agents", 0, "tools")


def test_declarations_ids_and_fields_outside_the_root_are_never_set_aside() -> None:
    assert removable_field(CONFIG, ("models",)) is None
    assert removable_field(CONFIG, ("agents", 0)) is None
    assert removable_field(CONFIG, ("agents", 0, "id")) is None
    assert removable_field({"models": "gpt-4o"}, ("models",)) is None
    resource = {"metadata": {"name": "Bad"}, "spec": {"replicas": "2"}}
    assert removable_field(resource, ("metadata", "name"), root=("spec",)) is None
    assert removable_field(resource, ("spec", "replicas"), root=("spec",)) == ("spec", "replicas")
    assert removable_field(resource, ("spec",), root=("spec",)) is None


def test_setting_fields_aside_copies_the_document_and_leaves_it_whole() -> None:
    reduced = without_fields(CONFIG, [("agents", 0, "bogus"), ("models", 0, "apiKeySecretRef")])
    assert reduced == {
        "models": [{"id": "gpt-4o"}],
        "databases": [{"id": "pg", "type": "postgres"}],
        "agents": [{"id": "a", "model": "gpt-4o", "tools": ["calculator", 5]}],
    }
    assert CONFIG["agents"][0]["bogus"] == 1 and "apiKeySecretRef" in CONFIG["models"][0]


def staged_check(body: Any) -> list[Problem]:
    """A check in two stages, as the real ones: the schema first, then references (only when the schema holds)."""
    agent = body["agents"][0]
    schema = [Problem(("agents", 0, key), "unknown field") for key in agent if key not in ("id", "model")]
    if schema:
        return schema
    if "model" not in agent:
        return [Problem(("agents", 0, "model"), "required field is missing")]  # caused by setting it aside
    return [Problem(("agents", 0, "model"), f"unknown model {agent['model']!r}")] if agent["model"] != "m" else []


def test_problems_a_schema_error_hides_are_found_in_the_same_run() -> None:
    body = {"agents": [{"id": "a", "model": "gpt-5", "bogus": 1}]}

    assert every_problem(body, staged_check) == [
        Problem(("agents", 0, "bogus"), "unknown field"),
        Problem(("agents", 0, "model"), "unknown model 'gpt-5'"),
    ]


def test_a_problem_at_a_field_set_aside_is_not_reported_as_the_files() -> None:
    body = {"agents": [{"id": "a", "model": 5}]}

    def check(document: Any) -> list[Problem]:
        agent = document["agents"][0]
        if not isinstance(agent.get("model", ""), str):
            return [Problem(("agents", 0, "model"), "must be a string")]
        return staged_check(document)

    assert every_problem(body, check) == [Problem(("agents", 0, "model"), "must be a string")]


def test_a_problem_no_removal_can_set_aside_ends_the_rounds_when_it_is_alone() -> None:
    calls: list[Any] = []

    def check(document: Any) -> list[Problem]:
        calls.append(document)
        return [Problem(("agents", 1, "id"), "duplicate id 'a'")]

    body = {"agents": [{"id": "a"}, {"id": "a"}]}
    assert every_problem(body, check) == [Problem(("agents", 1, "id"), "duplicate id 'a'")]
    assert len(calls) == 1


def test_an_invalid_id_gets_a_valid_stand_in_unlike_every_other_id() -> None:
    assert stand_in_id("Bad_ID", {"a"}) == "bad-id"
    assert stand_in_id("B", {"b", "b-2"}) == "b-3"
    assert stand_in_id("__", set()) == "id"
    assert stand_in_id(5, set()) == "5"
    assert all(valid_id(stand_in_id(value, set())) for value in ("-x-", "Ü" * 100, "a" * 200, "A.B"))


def test_an_invalid_id_hides_nothing_and_problems_quoting_it_are_the_ids() -> None:
    seen: list[Any] = []

    def check(document: Any) -> list[Problem]:
        seen.append(document)
        agents = document["agents"]
        bad = [Problem(("agents", i, "id"), "not a valid id") for i, a in enumerate(agents) if not valid_id(a["id"])]
        if bad:
            return bad
        ids = {agent["id"] for agent in agents}
        return [
            Problem(("teams", 0, "members", i), f"unknown member {member!r}")
            for i, member in enumerate(document["teams"][0].get("members", []))
            if member not in ids
        ]

    body = {"agents": [{"id": "B"}, {"id": "b"}], "teams": [{"id": "t", "members": ["ghost", "B"]}]}
    assert every_problem(body, check) == [
        Problem(("agents", 0, "id"), "not a valid id"),
        Problem(("teams", 0, "members", 0), "unknown member 'ghost'"),
    ]
    assert seen[1]["agents"] == [{"id": "b-2"}, {"id": "b"}]
    assert body["agents"][0] == {"id": "B"}  # the input is left whole


def test_every_section_declaring_ids_is_never_set_aside() -> None:
    sections = set()
    for model in (RuntimeConfig, AgentOSConfigSpec):
        for name, field in model.model_fields.items():
            items = [arg for arg in typing.get_args(field.annotation) if isinstance(arg, type)]
            if typing.get_origin(field.annotation) is list and any(
                "id" in getattr(i, "model_fields", {}) for i in items
            ):
                sections |= {name, field.alias or name}
    assert {"models", "agents", "mcpServers"} <= sections
    assert sections <= DECLARATIONS


def test_a_problem_no_removal_can_set_aside_does_not_stop_the_others_being_set_aside() -> None:
    """A duplicate id stays; the unknown field beside it is set aside, and what it hid is found."""

    def check(document: Any) -> list[Problem]:
        duplicate = [Problem(("agents", 1, "id"), "duplicate id 'a'")]
        return duplicate + staged_check({"agents": document["agents"][:1]})

    body = {"agents": [{"id": "a", "model": "gpt-5", "bogus": 1}, {"id": "a"}]}
    assert every_problem(body, check) == [
        Problem(("agents", 1, "id"), "duplicate id 'a'"),
        Problem(("agents", 0, "bogus"), "unknown field"),
        Problem(("agents", 0, "model"), "unknown model 'gpt-5'"),
    ]


def test_a_required_field_left_out_gets_a_stand_in_so_its_declaration_stays() -> None:
    seen: list[Any] = []

    def check(document: Any) -> list[Problem]:
        seen.append(document)
        step = document["workflows"][0]["steps"][0]
        if "name" not in step:
            return [Problem(("workflows", 0, "steps", 0, "name"), MISSING)]
        if step["name"] == "":
            return [Problem(("workflows", 0, "steps", 0, "name"), "empty")]  # of the stand-in: not the file's
        agent = step.get("agent")
        return [Problem(("workflows", 0, "steps", 0, "agent"), f"unknown agent {agent!r}")] if agent else []

    body = {"workflows": [{"id": "w", "steps": [{"agent": "ghost"}]}]}
    assert every_problem(body, check, stand_in=lambda path: ("x",) if path[-1] == "name" else None) == [
        Problem(("workflows", 0, "steps", 0, "name"), MISSING),
        Problem(("workflows", 0, "steps", 0, "agent"), "unknown agent 'ghost'"),
    ]
    assert seen[1] == {"workflows": [{"id": "w", "steps": [{"agent": "ghost", "name": "x"}]}]}
    assert body == {"workflows": [{"id": "w", "steps": [{"agent": "ghost"}]}]}  # the input is left whole
    assert every_problem(body, check, stand_in=lambda path: ("",)) == [
        Problem(("workflows", 0, "steps", 0, "name"), MISSING)
    ]


def test_a_field_reported_missing_beside_one_set_aside_is_the_misspelling_not_the_files() -> None:
    def check(document: Any) -> list[Problem]:
        settings = document.get("tool_config", {}).get("http_get", {})
        if "allowedHosts" in settings:
            return [Problem(("tool_config", "http_get", "allowedHosts"), "write allowed_hosts")]
        return [Problem(("tool_config", "http_get", "allowed_hosts"), MISSING)]

    body = {"tool_config": {"http_get": {"allowedHosts": ["x.io"]}}}
    assert every_problem(body, check) == [Problem(("tool_config", "http_get", "allowedHosts"), "write allowed_hosts")]


def test_fields_are_set_in_a_copy_absent_ones_too() -> None:
    data = {"a": [{"b": 1}, {"c": 2}]}
    assert with_fields(data, {("a", 1, "d"): 3, ("a", 0, "b"): 4}) == {"a": [{"b": 4}, {"c": 2, "d": 3}]}
    assert data == {"a": [{"b": 1}, {"c": 2}]}
