"""A runtime config file written badly or with hostile intent: one problem naming the file and line, never a traceback or a hang."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from agentos_runtime.config import ConfigError, load_config, parse_config_text, reading
from agentos_runtime.serving import load_runtime_config

from tests.runtime.test_serving import DEADLINE, clean_env, serve_command

GOOD = "os_id: demo\nmodels:\n  - id: m\n    api_key_env: null\nagents:\n  - id: a\n    model: m\n"


def bomb(levels: int = 9) -> str:
    """Anchors naming the one before nine times each, in an agent's free-form metadata: 9^9 nodes expanded."""
    lines = ["x0: &x0 [a, a, a, a, a, a, a, a, a]"]
    lines += [f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 9)}]" for i in range(1, levels)]
    return GOOD + "    metadata:\n" + "".join(f"      {line}\n" for line in lines)


# (what the file is, its bytes, words of the one problem reported)
HOSTILE: list[tuple[str, bytes, str]] = [
    ("an alias bomb", bomb().encode(), "aliases expand this document by more than 100000 nodes"),
    (
        "a hundred thousand open brackets",
        (GOOD + "    metadata: " + "[" * 100_000 + "]" * 100_000 + "\n").encode(),
        "line 8, column 115: nested deeper than 100 levels: flatten the document",
    ),
    (
        "a Latin-1 file",
        (GOOD + "    description: café\n").encode("latin-1"),
        "not UTF-8: byte 0xe9 at line 8, column 21 is not valid UTF-8 (invalid continuation byte); save the file as UTF-8",
    ),
    ("a UTF-16 file", GOOD.encode("utf-16"), "not UTF-8: it starts with a UTF-16 or UTF-32 byte-order mark"),
    (
        "a NUL byte",
        GOOD.replace("id: a", "id: a\x00").encode(),
        "not valid YAML: line 6, column 10: character #x0000 is not allowed in YAML",
    ),
    (
        "the agents written twice, which would drop the first",
        (GOOD + "agents:\n  - id: b\n    model: m\n").encode(),
        "not valid YAML: line 8, column 1: the key 'agents' is written twice in one mapping (first on line 5)",
    ),
    (
        "two documents",
        (GOOD + "---\nos_id: other\n").encode(),
        "line 8: a second YAML document starts here, and this file is read as one document",
    ),
]


@pytest.mark.parametrize(("content", "words"), [case[1:] for case in HOSTILE], ids=[case[0] for case in HOSTILE])
def test_a_hostile_file_is_one_problem_naming_the_file_within_a_second(
    tmp_path: Path, content: bytes, words: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(content)
    for load in (load_config, load_runtime_config):
        started = time.process_time()  # the work it took: a loaded machine's waits for a core do not count
        with pytest.raises(ConfigError) as caught:
            load(path)
        assert time.process_time() - started < 1.0
        [problem] = caught.value.problems
        assert str(problem).startswith(f"{path}: ") and words in str(problem), str(problem)


def test_the_files_above_are_good_once_the_hostile_part_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(GOOD + "    metadata: {note: [[[]]]}\n    description: café\n")
    config = load_runtime_config(path)
    assert config.agents[0].metadata == {"note": [[[]]]} and config.agents[0].description == "café"


def test_serve_reports_a_file_nested_too_deep_in_one_line_and_exits_2(tmp_path: Path) -> None:
    # Before the bounded reader this ended in a RecursionError traceback.
    path = tmp_path / "config.yaml"
    path.write_text(GOOD + "    metadata: " + "[" * 50_000 + "]" * 50_000 + "\n")
    result = subprocess.run(
        serve_command(path), env=clean_env(), capture_output=True, text=True, timeout=DEADLINE, cwd=tmp_path
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{path}: refused: line 8, column 115: nested deeper than 100 levels" in result.stderr


def test_a_merge_may_override_the_keys_it_brings_in() -> None:
    config = parse_config_text(
        "models:\n  - &base {id: m, api_key_env: null, timeout: 10}\n  - {<<: *base, id: n, timeout: 20}\n"
    )
    assert [(model.id, model.timeout) for model in config.models] == [("m", 10.0), ("n", 20.0)]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "a:\n  b: 1\n  c: 2\n  b: 3\n",
            "line 4, column 3: the key 'b' is written twice in one mapping (first on line 2)",
        ),
        ("- {k: 1, k: 2}\n", "line 1, column 10: the key 'k' is written twice"),
        ('"\\ud800": 1\n"\\ud800": 2\n', "the key '\\ud800' is written twice"),
        ("x" * 500 + ": 1\n" + "x" * 500 + ": 2\n", f"the key '{'x' * 57}...' is written twice"),
    ],
)
def test_a_key_written_twice_is_refused_wherever_it_is(text: str, words: str) -> None:
    with pytest.raises(reading.InputError) as caught:
        reading.load_document(text)
    assert words in str(caught.value)
    str(caught.value).encode("utf-8")  # printable as is: a lone surrogate is escaped


def test_keys_equal_only_as_text_are_different_keys() -> None:
    assert reading.load_document("{1: a, '1': b, null: c, 'null': d}") == {1: "a", "1": "b", None: "c", "null": "d"}


def test_a_pipe_as_the_config_file_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)  # nobody ever writes to it: reading it would wait forever
    started = time.monotonic()

    with pytest.raises(ConfigError) as raised:
        load_config(fifo)

    assert time.monotonic() - started < 5.0  # waiting on a pipe costs no CPU: the wall clock, with room for load
    assert [str(p) for p in raised.value.problems] == [
        f"{fifo}: not a regular file (a directory, pipe or device): give a YAML file"
    ]


def test_a_config_file_larger_than_any_configmap_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(GOOD + "#" * reading.MAX_FILE_BYTES + "\n")

    with pytest.raises(ConfigError, match="larger than 8 MiB"):
        load_config(path)


@pytest.mark.parametrize("number", [".nan", ".inf", "-.inf"])
def test_nan_and_infinity_are_no_setting_s_value(number: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config_text(GOOD.replace("api_key_env: null", f"api_key_env: null\n    temperature: {number}"))

    assert [str(p) for p in raised.value.problems] == ["models[0].temperature: Input should be a finite number"]


# (what the setting holds, the YAML that puts it there, the one problem reported)
UNSTORABLE_TEXT = [
    (
        "a lone surrogate in a name",
        '    name: "x\\udfffy"\n',
        "agents[0].name: Text may not contain a lone surrogate (\\udfff): remove it",
    ),
    (
        "a NUL in a description",
        '    description: "nul \\0 here"\n',
        "agents[0].description: Text may not contain a NUL character (\\u0000): remove it",
    ),
    (
        "a lone surrogate in one of the instructions",
        '    instructions: ["fine", "bad \\ud800"]\n',
        "agents[0].instructions: at [1]: Text may not contain a lone surrogate (\\ud800): remove it",
    ),
    (
        "a NUL deep in free-form metadata",
        '    metadata: {team: {tags: ["a\\0"]}}\n',
        "agents[0].metadata: at team.tags[0]: Text may not contain a NUL character (\\u0000): remove it",
    ),
    (
        "a lone surrogate in a metadata key",
        '    metadata: {"k\\ud800": 1}\n',
        "agents[0].metadata: at k\\ud800: Key: Text may not contain a lone surrogate (\\ud800): remove it",
    ),
]


@pytest.mark.parametrize(
    ("yaml_text", "words"), [case[1:] for case in UNSTORABLE_TEXT], ids=[case[0] for case in UNSTORABLE_TEXT]
)
def test_text_no_answer_or_database_can_carry_is_refused_naming_the_field(yaml_text: str, words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config_text(GOOD + yaml_text)

    assert [str(p) for p in raised.value.problems] == [words]


def test_text_of_any_script_and_emoji_is_kept() -> None:
    config = parse_config_text(GOOD + '    description: "café 東京 \\U0001F600 \\t tab"\n')

    assert config.agents[0].description == "café 東京 \U0001f600 \t tab"


def test_a_character_written_as_a_json_pair_of_escapes_is_one_character_and_a_reversed_pair_is_refused() -> None:
    config = parse_config_text(GOOD + '    description: "\\ud83d\\ude00"\n')
    assert config.agents[0].description == "\U0001f600"

    with pytest.raises(
        ConfigError, match=r"agents\[0\]\.description: Text may not contain a lone surrogate \(\\ude00\)"
    ):
        parse_config_text(GOOD + '    description: "\\ude00\\ud83d"\n')


def test_a_date_or_time_written_out_is_text_as_the_api_server_reads_it() -> None:
    config = parse_config_text(GOOD + "    metadata: {day: 2024-01-01, at: 2024-01-01T10:00:00Z}\n")

    assert config.agents[0].metadata == {"day": "2024-01-01", "at": "2024-01-01T10:00:00Z"}


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("!!binary aGVsbG8=", "line 8, column 19: !!binary makes bytes, which JSON"),
        ("!!set {a, b}", "line 8, column 19: !!set makes a set, which JSON"),
        ("!!timestamp 2024-01-01", "line 8, column 19: !!timestamp makes a date, which JSON"),
        ("!!omap [a: 1]", "line 8, column 19: !!omap makes ordered pairs, which JSON"),
    ],
)
def test_a_tag_making_a_value_json_cannot_hold_is_refused_where_it_is_written(value: str, words: str) -> None:
    with pytest.raises(ConfigError, match="refused: " + re.escape(words)):
        parse_config_text(GOOD + f"    metadata: {{x: {value}}}\n")


@pytest.mark.parametrize("number", [".nan", ".inf", "-.inf"])
def test_nan_and_infinity_are_refused_in_free_form_values_too(number: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config_text(GOOD + f"    session_state: {{scores: [1, {number}]}}\n")

    [problem] = [str(p) for p in raised.value.problems]
    assert problem.startswith("agents[0].session_state: at scores[1]: ")
    assert problem.endswith("Numbers must be finite: NaN and Infinity are not JSON")
