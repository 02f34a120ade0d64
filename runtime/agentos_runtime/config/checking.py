"""Every problem of a document in one run: schema, references and the checks that follow them.

The checks run in stages: the schema first, then the references between declarations, then
what only a valid document allows (rendering the children and checking them as the API server
would, resolving tool names). A schema error stops the later stages, so a file with an unknown
field and an unknown model would report the model only once the field is fixed.

Here the fields at fault are set aside and the rest is checked again, a few rounds at most,
until the later stages run (problems that no removal can set aside, such as a duplicate id,
stay; the others are set aside all the same, since the check may run some later stages despite
them). What is set aside is chosen so that the rest stays what it was: a
field inside a declaration (``agents[0].bogus``), never a declaration itself or a whole list
of them (removing a model would make every agent naming it "unknown"), and never an id.
Problems found in the reduced document that touch a field set aside (or a field above it), or
say a field beside one is missing, are dropped, as they may come from the removal rather than
from the file. A required field left out may instead get a valid stand-in (``stand_in``).

An invalid id (``B``, ``Bad_ID``) cannot be set aside, and a declaration whose id is invalid
stops every later stage; so it gets a stand-in too: a valid id made from it (``b``,
``bad-id``), unlike every id of the document. A problem that quotes the invalid id (a member
``'Bad_ID'`` unknown) is then dropped: it names the declaration the id problem is about.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agentos_runtime.config.base import ID_MAX_LENGTH, ID_PATTERN
from agentos_runtime.config.problems import Problem

Path = tuple[str | int, ...]
Check = Callable[[Any], list[Problem]]
StandIn = Callable[[Path], tuple[Any] | None]
"""A valid value for the required field at a path, as ``(value,)``, or None when there is none to give."""
MISSING = "required field is missing"

# Keys never set aside: the sections declaring what references name (by their file and their
# resource names), the ids themselves, and a resource's ``image`` (whose entry points tool names
# may be: without it they are checked against the built-ins).
DECLARATIONS = frozenset(
    {
        *("models", "databases", "agents", "teams", "workflows", "id"),
        *("mcp_servers", "mcpServers", "knowledge_bases", "knowledgeBases", "image"),
    }
)
# Each round sets aside at least one more field; real files need one or two.
MAX_ROUNDS = 5


def every_problem(body: Any, check: Check, *, root: Path = (), stand_in: StandIn | None = None) -> list[Problem]:
    """The problems ``check`` finds in ``body``, plus those its first problems hide, in the order found.

    ``check`` returns every problem it finds in one run (empty when the document is valid).
    ``root``: fields only under it may be set aside (``("spec",)`` for a resource).
    ``stand_in``: valid values for required fields left out (a workflow step's ``name``), put in
    their place rather than setting aside what holds them, which would hide its declaration.
    """
    problems = check(body)
    found = list(problems)
    removed: list[Path] = []
    filled: dict[Path, Any] = {}
    replaced: list[str] = []
    """Invalid ids that got a stand-in."""
    taken = ids_in(body)
    current = body
    for _ in range(MAX_ROUNDS):
        if not problems:
            break
        # A problem no removal can set aside (a duplicate id, a rule naming a field not given)
        # stays, found already; the others are set aside, as what they hide may be checked anyway.
        fills: dict[Path, Any] = {}
        targets: list[Path] = []
        for problem in problems:
            value = _stand_in_for(current, problem, stand_in, root)
            invalid = None
            if value is None:
                invalid = _invalid_id(current, problem, root)
                value = None if invalid is None else (stand_in_id(invalid[0], taken),)
            if value is not None:
                fills[data_path(current, problem.path)] = value[0]
                if invalid is not None and isinstance(invalid[0], str):
                    replaced.append(invalid[0])
                continue
            target = removable_field(current, problem.path, root=root)
            if target is not None and target not in removed and target not in targets:
                targets.append(target)
        fills = {path: value for path, value in fills.items() if path not in filled}
        if not targets and not fills:
            break  # nothing more to set aside: what is still hidden stays so
        removed.extend(targets)
        filled.update(fills)
        current = with_fields(without_fields(body, removed), filled)
        problems = check(current)
        for problem in problems:
            path = data_path(body, problem.path)
            if (
                problem not in found
                and not _touches(path, [*removed, *filled])
                and not _beside(problem, removed)
                and not any(f"'{invalid}'" in problem.message for invalid in replaced)
            ):
                found.append(problem)
    return found


def _beside(problem: Problem, removed: Sequence[Path]) -> bool:
    """Whether ``problem`` says a field is missing beside a field set aside: the field at fault
    is then likely the missing one misspelt (``allowedHosts`` for ``allowed_hosts``), and a field
    missing for itself would have been reported with it, by the same check of the same mapping."""
    return problem.message == MISSING and any(problem.path[:-1] == field[:-1] for field in removed)


def _stand_in_for(data: Any, problem: Problem, stand_in: StandIn | None, root: Path) -> tuple[Any] | None:
    """``stand_in``'s value for the required field ``problem`` says is left out, if it has one."""
    if stand_in is None or problem.message != MISSING:
        return None
    real = data_path(data, problem.path)
    if len(real) <= len(root) or real[: len(root)] != root or not isinstance(real[-1], str):
        return None
    parent = _resolve(data, real[:-1])
    if not isinstance(parent, Mapping) or real[-1] in parent:
        return None
    return stand_in(real)


def valid_id(value: Any) -> bool:
    """Whether ``value`` is an id the schema takes."""
    return isinstance(value, str) and len(value) <= ID_MAX_LENGTH and re.fullmatch(ID_PATTERN, value) is not None


def ids_in(data: Any) -> set[str]:
    """Every text given as an ``id`` anywhere in ``data``."""
    found: set[str] = set()
    if isinstance(data, Mapping):
        if isinstance(data.get("id"), str):
            found.add(data["id"])
        for value in data.values():
            found |= ids_in(value)
    elif isinstance(data, list):
        for item in data:
            found |= ids_in(item)
    return found


def stand_in_id(value: Any, taken: set[str]) -> str:
    """A valid id made from the invalid ``value`` (lower case, other characters as ``-``), unlike
    every id in ``taken`` (a number added when it would be one); the same for the same value."""
    text = re.sub(r"[^a-z0-9]+", "-", str(value).lower())[: ID_MAX_LENGTH - 4].strip("-") or "id"
    candidate, number = text, 2
    while candidate in taken:
        candidate, number = f"{text}-{number}", number + 1
    return candidate


def _invalid_id(data: Any, problem: Problem, root: Path) -> tuple[Any] | None:
    """The value of the ``id`` ``problem`` is about, as ``(value,)``, when the schema refuses it."""
    real = data_path(data, problem.path)
    if len(real) <= len(root) or real[: len(root)] != root or real[-1] != "id":
        return None
    parent = _resolve(data, real[:-1])
    if not isinstance(parent, Mapping) or "id" not in parent or valid_id(parent["id"]):
        return None
    return (parent["id"],)


def removable_field(data: Any, path: Sequence[str | int], *, root: Path = ()) -> Path | None:
    """The field of ``data`` to set aside for a problem at ``path``, or None when none may be.

    The field itself when present, else the nearest field above it (a missing ``name`` in
    ``apiKeySecretRef``: the whole reference). Never a list item, a declaration or an id,
    nor anything outside ``root``.
    """
    real = data_path(data, path)
    for cut in range(len(real), len(root), -1):
        field = real[:cut]
        key = field[-1]
        if isinstance(key, int):
            continue
        if key in DECLARATIONS:
            return None
        parent = _resolve(data, field[:-1])
        if isinstance(parent, Mapping) and key in parent and field[: len(root)] == root:
            return field
    return None


def data_path(data: Any, path: Sequence[str | int]) -> Path:
    """``path`` as it runs through ``data``: parts naming nothing there are left out.

    Validation errors insert the member of a union that failed (``postgres``, ``str``) between
    real keys. From the first part that is neither present nor such a member (a missing
    field), the rest of ``path`` is kept as it is.
    """
    real: list[str | int] = []
    node = data
    for index, part in enumerate(path):
        if _has(node, part):
            node = node[part]
            real.append(part)
        elif isinstance(part, str) and index + 1 < len(path) and _has(node, path[index + 1]):
            continue
        else:
            real.extend(path[index:])
            break
    return tuple(real)


def _has(node: Any, part: str | int) -> bool:
    if isinstance(node, Mapping):
        return part in node
    return isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node)


def without_fields(data: Any, fields: Sequence[Path]) -> Any:
    """A copy of ``data`` without ``fields`` (each a path of mapping keys and list indexes)."""
    if not fields:
        return data
    if () in fields:
        raise ValueError("the whole document cannot be set aside")
    heads: dict[str | int, list[Path]] = {}
    for field in fields:
        heads.setdefault(field[0], []).append(field[1:])
    if isinstance(data, Mapping):
        return {
            key: without_fields(value, heads.get(key, []))
            for key, value in data.items()
            if () not in heads.get(key, [])
        }
    if isinstance(data, list):
        return [without_fields(item, heads.get(index, [])) for index, item in enumerate(data)]
    return data


def with_fields(data: Any, values: Mapping[Path, Any]) -> Any:
    """A copy of ``data`` with each field of ``values`` (a path of mapping keys and list indexes,
    whose last key may be absent) set to its value."""
    if not values:
        return data
    if () in values:
        return values[()]
    heads: dict[str | int, dict[Path, Any]] = {}
    for path, value in values.items():
        heads.setdefault(path[0], {})[path[1:]] = value
    if isinstance(data, Mapping):
        copy = {key: with_fields(value, heads.get(key, {})) for key, value in data.items()}
        for key, below in heads.items():
            if key not in copy and () in below:
                copy[key] = below[()]
        return copy
    if isinstance(data, list):
        return [with_fields(item, heads.get(index, {})) for index, item in enumerate(data)]
    return data


def _resolve(data: Any, path: Path) -> Any:
    node = data
    for part in path:
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return None
    return node


def _touches(path: Path, removed: Sequence[Path]) -> bool:
    """Whether ``path`` is a field set aside, lies under one, or lies above one."""
    return any(path[: len(field)] == field or field[: len(path)] == path for field in removed)
