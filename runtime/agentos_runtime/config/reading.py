"""Reading YAML written by people: the runtime's config file and the files ``agentos validate`` and ``agentos render`` are given.

Why not plain ``yaml.safe_load``: it is safe from code execution, not from size. A few lines
of nested anchors and aliases ("billion laughs") load in microseconds as shared references, and
then expand exponentially in whatever walks them (validation, rendering, serialisation), so the
reader would hang; a deeply nested document exhausts Python's recursion limit in the composer
and ends in a traceback. And a file that is not UTF-8 raised ``UnicodeDecodeError``, a traceback
too. Here every such input becomes one line saying what is wrong and what to do, and the size
checks run on the composed node graph (linear in the file) before anything expands it.

A key written twice in one mapping is refused too (YAML requires keys to be unique): a plain
loader keeps the last value and silently drops the first, such as a whole ``agents:`` block.
Keys a merge (``<<: *base``) brings in may still be overridden, as merges intend.

The limits sit far above what a config needs: the rendered config must fit a 1 MiB ConfigMap,
and its deepest nesting (workflow steps in conditions in parallel groups) is a few dozen
levels. Aliases in moderation, as kubectl allows them, still work.
"""

from __future__ import annotations

import os
import re
import stat
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

# libyaml's parser; None when PyYAML was built without it (its own reader then does it all).
CParser: Any = getattr(getattr(yaml, "cyaml", None), "CParser", None)
_PARSER: tuple[type, ...] = (CParser,) if CParser is not None else ()
# A `!` standing alone (the non-specific tag): libyaml reads `!` with no value as "", PyYAML as null.
_BARE_TAG = re.compile(r"(?:^|[\s\[\]{},])!(?=[\s\[\]{},]|$)", re.MULTILINE)

# The most read of one file: a resource must fit the API server's request limit (3 MiB), a
# runtime config the 1 MiB ConfigMap it is mounted from.
MAX_FILE_BYTES = 8 * 2**20
# Deepest nesting of mappings and sequences in a document, aliases expanded.
MAX_DEPTH = 100
# Nodes that aliases may add to a document when expanded, beyond those written out in it.
MAX_ALIAS_NODES = 100_000

_UTF16_OR_32_MARKS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
_SURROGATE = re.compile("[\ud800-\udfff]")


class InputError(ValueError):
    """Input that cannot be read as YAML documents; the message is one line, saying what to fix."""


def decode(data: bytes) -> str:
    """``data`` as UTF-8 text (the encoding Kubernetes manifests use); raises ``InputError`` naming the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        if data.startswith(_UTF16_OR_32_MARKS):
            raise InputError("not UTF-8: it starts with a UTF-16 or UTF-32 byte-order mark; save it as UTF-8") from None
        line_start = data.rfind(b"\n", 0, error.start) + 1
        line = data.count(b"\n", 0, error.start) + 1
        column = len(data[line_start : error.start].decode("utf-8", errors="replace")) + 1
        raise InputError(
            f"not UTF-8: byte 0x{data[error.start]:02x} at line {line}, column {column} is not valid UTF-8"
            f" ({error.reason}); save the file as UTF-8"
        ) from None


def load_documents(text: str) -> list[Any]:
    """Every document of ``text`` (``None`` for empty ones); raises ``InputError`` for bad or hostile YAML."""
    fast = _read_fast(text, single=False)
    if fast is not None:
        return list(fast[0])
    try:
        return list(yaml.load_all(text, Loader=_BoundedLoader))
    except yaml.YAMLError as error:
        raise InputError(_describe(error, text)) from None


def load_document(text: str) -> Any:
    """The one document of ``text`` (``None`` when empty); raises ``InputError`` for bad or
    hostile YAML, or for a second document."""
    fast = _read_fast(text, single=True)
    if fast is not None:
        return fast[0][0]
    try:
        return yaml.load(text, Loader=_BoundedLoader)
    except yaml.composer.ComposerError as error:
        if error.context != "expected a single document in the stream" or error.problem_mark is None:
            raise InputError(_describe(error, text)) from None
        raise InputError(
            f"line {error.problem_mark.line + 1}: a second YAML document starts here, and this file is read as"
            " one document: keep one document in the file"
        ) from None
    except yaml.YAMLError as error:
        raise InputError(_describe(error, text)) from None


def read_file(data: bytes) -> Any:
    """The one document of a file's bytes: ``decode`` then ``load_document``."""
    return load_document(decode(data))


def file_bytes(path: str | os.PathLike[str], *, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file at ``path``, at most ``max_bytes``; raises ``InputError``
    for anything else (a pipe nobody writes to would be waited on forever, ``/dev/zero`` would
    fill the memory), ``OSError`` when it cannot be opened."""
    # Non-blocking, so that opening a FIFO returns at once; a regular file ignores the flag.
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise InputError("not a regular file (a directory, pipe or device): give a YAML file")
        return within_limit(file.read(max_bytes + 1), max_bytes)


def within_limit(data: bytes, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """``data``, or ``InputError`` when it is longer than ``max_bytes``."""
    if len(data) > max_bytes:
        raise InputError(
            f"larger than {max_bytes // 2**20} MiB: an AgentOSConfig must fit the API server's request limit"
            " (3 MiB), a runtime config its 1 MiB ConfigMap; split the file"
        )
    return data


class _LimitError(yaml.MarkedYAMLError):
    """YAML that may well be valid, refused for its size or shape before anything expands it."""


class _BoundedLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses documents nested deeper than ``MAX_DEPTH`` or blown up by aliases."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliased = False  # whether the document being composed holds an alias

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:  # noqa: N803 (PyYAML's name)
        # Each open `[` or `{` may start a key the scanner must look ahead for: without a bound,
        # a thousand of them cost a million steps before the composer sees the first one.
        if self.flow_level >= MAX_DEPTH:
            raise _LimitError(None, None, _too_deep(), self.get_mark())
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        # The composer recurses once per level: stop before Python's recursion limit does.
        self._depth += 1
        if self.check_event(yaml.events.AliasEvent):
            self._aliased = True
        try:
            if self._depth > MAX_DEPTH:
                event = self.current_event  # the caller peeked at it
                raise _LimitError(None, None, _too_deep(), event.start_mark if event else self.get_mark())
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> Node | None:
        self._aliased = False
        node = super().compose_document()
        if node is not None and self._aliased:  # without an alias, the document is as written
            _check_expansion(node)
        return node

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        node: MappingNode = super().compose_mapping_node(anchor)
        _refuse_repeated_keys(node)  # as written: merges have not flattened their keys in yet
        return node

    def construct_scalar(self, node: ScalarNode | MappingNode) -> Any:
        return _construct_scalar(self, node)

    def construct_yaml_int(self, node: ScalarNode) -> int:
        return _construct_yaml_int(self, node)


def _construct_scalar(loader: SafeConstructor, node: ScalarNode | MappingNode) -> Any:
    # A character beyond the 16-bit range written as a JSON-style pair of escapes
    # ("\ud83d\ude00", as `json.dumps` writes it) is one character, as in JSON; PyYAML keeps
    # the two halves. A half with no partner stays, for the schema to refuse with its field.
    value = SafeConstructor.construct_scalar(loader, node)
    if isinstance(value, str) and _SURROGATE.search(value):
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return value


def _construct_yaml_int(loader: SafeConstructor, node: ScalarNode) -> int:
    # Python refuses to convert a number of more than 4300 digits (a ValueError, not YAML's).
    try:
        value: int = SafeConstructor.construct_yaml_int(loader, node)
    except ValueError:
        raise _LimitError(
            None, None, f"a number of {len(node.value)} characters: far too large for any field", node.start_mark
        ) from None
    return value


_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _BoundedLoader.construct_yaml_int)
# A number with an exponent and no dot or no exponent sign (`5e-1`, `1e3`, `2.5E6`) is a float to
# Kubernetes' YAML reader and to YAML 1.2, but a string to PyYAML's YAML 1.1 rules: read it as
# the API server would.
_BoundedLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


# A date or time written out (`2024-01-01`) is text to the API server's YAML reader, and JSON
# has no date: read it as the text it is, not as a `datetime` no config, answer or database row
# can carry as JSON.
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_BoundedLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != _TIMESTAMP]
    for first, resolvers in _BoundedLoader.yaml_implicit_resolvers.items()
}
# Tags that make values JSON has no form for (bytes, a set, ordered pairs, a datetime): refused
# where they are written.
_NOT_JSON = {"binary": "bytes", "timestamp": "a date", "set": "a set", "omap": "ordered pairs", "pairs": "pairs"}


def _refuse_not_json(_loader: _BoundedLoader, node: Node) -> Any:
    name = node.tag.rsplit(":", 1)[-1]
    raise _LimitError(
        None,
        None,
        f"!!{name} makes {_NOT_JSON[name]}, which JSON (and so the config) cannot hold: write the value as text",
        node.start_mark,
    )


for _name in _NOT_JSON:
    _BoundedLoader.add_constructor(f"tag:yaml.org,2002:{_name}", _refuse_not_json)


class _FastLoader(*_PARSER, SafeConstructor, Resolver):  # type: ignore[misc]
    """libyaml's scanner, parser and composer (about 7x faster than PyYAML's own), with the
    constructors and resolvers of ``_BoundedLoader``. Its node graph is checked against the same
    limits before anything is constructed; ``_read_fast`` leaves every refusal to the other."""

    def __init__(self, stream: str) -> None:
        CParser.__init__(self, stream)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)

    construct_scalar = _construct_scalar
    construct_yaml_int = _construct_yaml_int


_FastLoader.yaml_constructors = _BoundedLoader.yaml_constructors
_FastLoader.yaml_multi_constructors = _BoundedLoader.yaml_multi_constructors
_FastLoader.yaml_implicit_resolvers = _BoundedLoader.yaml_implicit_resolvers


def _read_fast(text: str, *, single: bool) -> tuple[list[Any]] | None:
    """The documents of ``text`` read by libyaml, or None to read it with ``_BoundedLoader``.

    A document PyYAML's own reader takes comes from here as that reader gives it. Anything
    libyaml refuses (it also refuses escapes such as a lone ``"\ud800"``, which PyYAML reads),
    and any document past a limit or with a key written twice, is read again by
    ``_BoundedLoader``, which gives the value or the one-line error it always gave. libyaml
    follows the YAML spec where PyYAML's reader refuses valid YAML (a tab after `key:`, a `?`
    inside a word in a flow list), as the API server's reader does: those now read.
    """
    if CParser is None or "\ufeff" in text or _BARE_TAG.search(text):
        return None  # where libyaml reads a value otherwise: a byte-order mark, a bare `!` tag
    loader = _FastLoader(text)
    try:
        nodes: list[Node | None] = []
        if single:
            nodes.append(loader.get_single_node())
        else:
            while loader.check_node():
                nodes.append(loader.get_node())
        if not all(node is None or _within_limits(node) for node in nodes):
            return None
        return ([None if node is None else loader.construct_document(node) for node in nodes],)
    except (yaml.YAMLError, RecursionError):
        return None
    finally:
        loader.dispose()


def _within_limits(root: Node) -> bool:
    """Whether the node graph libyaml composed passes ``_BoundedLoader``'s checks: no mapping
    repeats a key, and the document is no deeper than ``MAX_DEPTH``, aliases expanded and
    bounded as ``_check_expansion`` measures them."""
    seen = {id(root)}
    aliased = False
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        if isinstance(node, MappingNode):
            _refuse_repeated_keys(node)
        for child in _children(node):
            if id(child) in seen:
                aliased = True
                continue
            seen.add(id(child))
            stack.append((child, depth + 1))
    if aliased:
        _check_expansion(root)
    return True


def _refuse_repeated_keys(node: MappingNode) -> None:
    """Raise when a scalar key is written twice in ``node`` itself (merged-in keys are not its own)."""
    first: dict[tuple[str, str], Node] = {}
    for key, _ in node.value:
        if not isinstance(key, ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            continue
        earlier = first.setdefault((key.tag, key.value), key)
        if earlier is not key:
            raise yaml.composer.ComposerError(
                None,
                None,
                f"the key '{_shown(key.value)}' is written twice in one mapping (first on line"
                f" {earlier.start_mark.line + 1}), and only one value can be kept: remove or merge one",
                key.start_mark,
            )


def _shown(value: str, limit: int = 60) -> str:
    """A key as an error quotes it: on one line, cut short."""
    flat = " ".join(value.split()).encode("utf-8", "backslashreplace").decode("utf-8")  # lone surrogates too
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _too_deep() -> str:
    return f"nested deeper than {MAX_DEPTH} levels: flatten the document"


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _count_distinct(root: Node) -> int:
    """How many nodes the document writes out (each aliased node once)."""
    seen = {id(root)}
    stack = [root]
    while stack:
        for child in _children(stack.pop()):
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
    return len(seen)


def _check_expansion(root: Node) -> None:
    """Refuse a document whose aliases expand it past the limits, or refer to themselves.

    Walks the node graph once (each node is measured once, however many aliases name it), so
    the check costs as much as reading the file did, whatever the document would expand to.
    """
    written = _count_distinct(root)
    cap = written + MAX_ALIAS_NODES + 1  # counts stop here: past it, the exact size does not matter
    measured: dict[int, tuple[int, int]] = {}  # id(node) -> (nodes once expanded, depth), both capped
    started: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_measured = stack.pop()
        key = id(node)
        if children_measured:
            parts = [measured[id(child)] for child in _children(node)]
            size = min(cap, 1 + sum(nodes for nodes, _ in parts))
            depth = 1 + max((child_depth for _, child_depth in parts), default=0)
            measured[key] = (size, min(depth, MAX_DEPTH + 1))
            started.discard(key)
            continue
        if key in measured:
            continue
        if key in started:  # still being measured: an alias inside its own anchor
            raise _LimitError(
                None, None, "an alias refers to the node that contains it: write the data out", node.start_mark
            )
        started.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in measured)
    size, depth = measured[id(root)]
    if depth > MAX_DEPTH:
        raise _LimitError(None, None, _too_deep() + " (aliases included)", root.start_mark)
    if size - written > MAX_ALIAS_NODES:
        raise _LimitError(
            None,
            None,
            f"aliases expand this document by more than {MAX_ALIAS_NODES} nodes (a YAML alias bomb?):"
            " write the repeated parts out, or use fewer aliases",
            root.start_mark,
        )


def _describe(error: yaml.YAMLError, text: str) -> str:
    """One line: where (line and column) and what."""
    if isinstance(error, yaml.reader.ReaderError):
        line = text.count("\n", 0, error.position) + 1
        column = error.position - (text.rfind("\n", 0, error.position) + 1) + 1
        return (
            f"not valid YAML: line {line}, column {column}: character #x{error.character:04x}"
            " is not allowed in YAML: remove it or write it as an escape in a double-quoted string"
        )
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = " ".join((error.problem or error.context or "unreadable").split())
        return f"{'refused' if isinstance(error, _LimitError) else 'not valid YAML'}: {where}{problem}"
    return f"not valid YAML: {' '.join(str(error).split())}"
