"""Every problem of a document in one run: schema, references and the checks that follow them.

The checks run in stages: the schema first, then the references between declarations, then
what only a valid document allows (rendering the children and checking them as the API server
would, resolving tool names). A schema error stops the later stages, so a file with an unknown
field and an unknown model would report the model only once the field is fixed.

Here the fields at fault are set aside and the rest is checked again, a few rounds at most,
until the later stages run. What is set aside is chosen so that the rest stays what it was: a
field inside a declaration (``agents[0].bogus``), never a declaration itself or a whole list
of them (removing a model would make every agent naming it "unknown"), and never an id.
Problems found in the reduced document that touch a field set aside (or a field above it) are
dropped, as they may come from the removal rather than from the file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agentos_runtime.config.problems import Problem

Path = tuple[str | int, ...]
Check = Callable[[Any], list[Problem]]

# Keys never set aside: the sections declaring what references name (by their file and their
# resource names), and the ids themselves.
DECLARATIONS = frozenset(
    {
        *("models", "databases", "agents", "teams", "workflows", "id"),
        *("mcp_servers", "mcpServers", "knowledge_bases", "knowledgeBases"),
    }
)
# Each round sets aside at least one more field; real files need one or two.
MAX_ROUNDS = 5


def every_problem(body: Any, check: Check, *, root: Path = ()) -> list[Problem]:
    """The problems ``check`` finds in ``body``, plus those its first problems hide, in the order found.

    ``check`` returns every problem it finds in one run (empty when the document is valid).
    ``root``: fields only under it may be set aside (``("spec",)`` for a resource).
    """
    problems = check(body)
    found = list(problems)
    removed: list[Path] = []
    current = body
    for _ in range(MAX_ROUNDS):
        if not problems:
            break
        targets = [removable_field(current, problem.path, root=root) for problem in problems]
        if any(target is None for target in targets):
            break  # a problem no removal can set aside: the later stages cannot run
        removed.extend(target for target in targets if target is not None)
        current = without_fields(current, removed)
        problems = check(current)
        for problem in problems:
            if problem not in found and not _touches(data_path(body, problem.path), removed):
                found.append(problem)
    return found


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
