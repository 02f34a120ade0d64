"""libyaml reads the config files, PyYAML's own reader only what libyaml cannot: whatever the
text, the documents or the one-line error are those PyYAML's reader alone gives (a differential
check over every YAML file of the project, hostile files, mutations of them and generated text)."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from agentos_runtime.config import reading
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[3]
FILES = sorted(
    path
    for folder in ("examples", "crds", "charts", "tests", "docs")
    for path in (ROOT / folder).rglob("*.y*ml")
    if path.stat().st_size < 2**20
)


def by_pyyaml_alone(text: str) -> str:
    """What the reader gave before libyaml: the documents (their repr tells types apart) or the error."""
    try:
        return repr(list(yaml.load_all(text, Loader=reading._BoundedLoader)))
    except yaml.YAMLError as error:
        return "error: " + reading._describe(error, text)


def by_the_reader(text: str) -> str:
    try:
        return repr(reading.load_documents(text))
    except reading.InputError as error:
        return f"error: {error}"


def single_by_pyyaml_alone(text: str) -> str:
    try:
        return repr(yaml.load(text, Loader=reading._BoundedLoader))
    except yaml.YAMLError:
        return "error"


def single_by_the_reader(text: str) -> str:
    try:
        return repr(reading.load_document(text))
    except reading.InputError:
        return "error"


def same(text: str) -> None:
    """PyYAML's reading when it reads a value, the very same error when both refuse; libyaml's
    value where it follows the YAML spec and PyYAML's reader refuses."""
    read, before = by_the_reader(text), by_pyyaml_alone(text)
    if before.startswith("error: not valid YAML") and not read.startswith("error:"):
        assert reading._read_fast(text, single=False) is not None, text[:200]
    else:
        assert read == before, text[:200]
        assert single_by_the_reader(text) == single_by_pyyaml_alone(text), text[:200]


def test_libyaml_is_there_to_read_with() -> None:
    assert reading.CParser is not None, "PyYAML without libyaml: every file is read by the slow reader"
    assert len(FILES) > 20


@pytest.mark.parametrize("path", FILES, ids=[str(path.relative_to(ROOT)) for path in FILES])
def test_every_yaml_file_of_the_project_reads_the_same(path: Path) -> None:
    same(path.read_text(encoding="utf-8", errors="replace"))


EDGES = [
    'a: "\\ud800"',
    'a: "\\ud83d\\ude00"',
    'a: "\\U0001F600 \\x41 \\N \\_ \\L \\P"',
    "a: " + "[" * 100 + "]" * 100,
    "a: " + "[" * 99 + "]" * 99,
    "a: " + "{b: " * 101 + "1" + "}" * 101,
    "\n".join("  " * i + f"k{i}:" for i in range(120)) + " 1",
    "a: 1\na: 2",
    "a: &x [1, 2]\nb: *x\nc: *x",
    "base: &b {x: 1}\nd:\n  <<: *b\n  x: 2",
    "a: &a [*a]",
    "x: !!binary aGk=",
    "x: 2024-01-01",
    "x: 1e3\ny: 5e-1\nz: .inf\nw: -.nan\nv: 0x1F\nu: 0o17\nt: 017\ns: 1_000",
    "x: " + "9" * 5000,
    "x: yes\ny: No\nz: ~\nw: null\nv: off",
    "- a\n- b: c\n  d: e\n- [f, {g: h}]",
    "--- 1\n--- 2\n...\n---\n",
    "%YAML 1.1\n---\na: 1",
    "%YAML 2.0\n---\na: 1",
    "%TAG ! tag:example.com,2000:\n---\na: !foo 1",
    "a: !custom 1",
    "? [a, b]\n: c",
    "? a\n: b",
    "a: |\n  line\n   more\n\nb: >-\n  folded\n  text\n",
    "a: 'it''s'\nb: \"tab\\there\"",
    "a:\tb",
    "\ta: b",
    "a: b\x85c\u2028d\u2029e",
    "\ufeffa: 1",
    "a: 1\n\ufeff",
    "!",
    "a: !\nb: [!, ! x]",
    "a: answ?r\nb: [plain answ?r]",
    "artifacthub\tio/license: x",
    "a: \x01",
    "a: \x7f",
    "k" * 1100 + ": v",
    "{" + "k" * 1100 + ": v}",
    "a: [1, 2,]",
    "a: {b: 1, c}",
    "a: -",
    "- - - x",
    "a: @b",
    "a: `b",
    "&anchor",
    "*unknown",
    "a: *unknown",
    "",
    "   ",
    "# only a comment",
    "---",
    "a: b: c",
    "a:\n- b\n-c",
    "[a, b]: c",
    "a: 'unterminated",
    'a: "\\q"',
    "a: 1\n b: 2",
    "\x00",
    "a: 0.1\nb: 1.0\nc: 1.\nd: .5\ne: +1\nf: -0",
]


@pytest.mark.parametrize("text", EDGES)
def test_edge_cases_read_the_same(text: str) -> None:
    same(text)


def mutations(text: str, rng: random.Random, count: int) -> list[str]:
    """``text`` with a few characters dropped, doubled or replaced by YAML's own punctuation."""
    pieces = list(":-[]{},&*!|>'\"#%?\n \t\\") + ["\\u", "\\x", "<<: ", "- ", ": "]
    out = []
    for _ in range(count):
        chars = list(text)
        for _ in range(rng.randint(1, 4)):
            if not chars:
                break
            at = rng.randrange(len(chars))
            action = rng.random()
            if action < 0.3:
                del chars[at]
            elif action < 0.6:
                chars.insert(at, chars[at])
            else:
                chars[at] = rng.choice(pieces)
        out.append("".join(chars))
    return out


def test_mutated_files_read_the_same() -> None:
    rng = random.Random(20261205)
    sources = [path.read_text(encoding="utf-8", errors="replace") for path in FILES if path.stat().st_size < 20_000]
    for source in rng.sample(sources, min(40, len(sources))):
        for text in mutations(source, rng, 25):
            same(text)


YAMLISH = st.text(
    alphabet=st.sampled_from(list("ab01.e:-[]{},&*!|>'\"#%?@`~\n \t\\u+") + ["\u00e9", "\U0001f600", "\x85", "\ufeff"]),
    max_size=80,
)


@settings(
    max_examples=int(os.environ.get("AGENTOS_FUZZ_EXAMPLES", "3000")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(YAMLISH)
def test_generated_text_reads_the_same(text: str) -> None:
    same(text)


def test_a_large_config_is_read_by_libyaml() -> None:
    text = "agents:\n" + "".join(f"  - id: a{i}\n    instructions: [one, two]\n" for i in range(2000))
    fast = reading._read_fast(text, single=True)

    assert fast is not None and fast[0][0] == yaml.load(text, Loader=reading._BoundedLoader)


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(
        ["yes", "No", "~", "1e3", "0x1F", "017", "1_000", "2024-01-01", ":", "- a", "a: b", "#c", "'", '"']
    ),
)
DATA = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=25,
)


@settings(
    max_examples=int(os.environ.get("AGENTOS_FUZZ_EXAMPLES", "3000")) // 3,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(DATA, st.sampled_from([None, True, False]), st.booleans(), st.sampled_from([None, '"', "'"]))
def test_generated_data_dumped_in_every_style_reads_the_same(
    data: Any, flow: bool | None, unicode: bool, style: str | None
) -> None:
    same(yaml.safe_dump(data, default_flow_style=flow, allow_unicode=unicode, default_style=style))
