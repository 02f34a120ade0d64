"""Check AgentOSConfig resources and runtime config files offline, as the operator, the API server and the runtime would.

  agentos validate examples/*.yaml
  agentos validate -f cr.yaml -f config.yaml

Reads YAML files (several documents each; `-` is standard input) and prints every problem of
every file at once, each with its file and field path, e.g.

  cr.yaml: AgentOSConfig/demo: spec.agents[2].model: unknown model 'gpt-5': ...
  config.yaml: runtime config: agents[0].tools[1]: unknown tool 'clock': ...

A document with `apiVersion`/`kind` (or a `metadata`/`spec`) is a Kubernetes object: an
AgentOSConfig is checked as the operator would check it, then rendered and its children
checked for what the API server would refuse (a request above its limit, a bad CIDR, a
variable named twice, the metrics port on the HTTP port, an over-size ConfigMap), each problem
reported at the spec field to change. Types are checked as the API server checks them:
`replicas: "2"` is a string, not an integer. Objects of other kinds (a Secret next to the
resource) are skipped. A document with none of those keys is a runtime config file, checked as
`agentos serve --config` checks it (tool names included).

A schema error does not hide the rest: the fields at fault are set aside and the document
checked again, so an unknown field and an unknown model are both reported in one run. A file
that is not UTF-8, not YAML, or hostile YAML (an alias bomb, absurd nesting, a number of
thousands of digits) is one line of error, refused before anything expands it; so is anything
but a regular file (a pipe is not waited on) and a file over 8 MiB. The same AgentOSConfig
(namespace and name) given twice is a problem of the second. Unprintable characters in what
is printed (a key's control character, a lone surrogate) are escaped. Exit status: 0 when
every document is valid (a valid resource may get a `note:` line, the advice the operator gives
in a Warning event), 1 on any problem (or when no AgentOSConfig and no runtime config was found), 2 when no file is given.
"""

from __future__ import annotations

import argparse
import functools
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from agentos_runtime.config import checking, reading
from agentos_runtime.config_checks import runtime_config_problems as serve_problems
from agentos_runtime.storable import one_line

from agentos_operator import GROUP, KIND
from agentos_operator.resources import namespace_problem

if TYPE_CHECKING:
    from agentos_runtime.config import Problem

# Top-level keys that make a document a Kubernetes object rather than a runtime config file
# (whose own top-level keys are none of these).
OBJECT_KEYS = frozenset({"apiVersion", "kind", "metadata", "spec"})
RUNTIME_CONFIG = "runtime config"


@dataclass(frozen=True)
class Document:
    """One YAML document of an input file, or the reason it could not be read.

    ``siblings``: how many documents its file holds, empty ones included.
    """

    source: str
    index: int
    body: Any
    error: str | None = None
    siblings: int = 1

    @property
    def label(self) -> str:
        if self.is_runtime_config:
            return RUNTIME_CONFIG if self.siblings == 1 else f"{RUNTIME_CONFIG} (document {self.index + 1})"
        if not isinstance(self.body, dict):
            return f"document {self.index + 1}"
        body = self.body
        metadata = body.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        label = f"{body.get('kind') or '?'}/{metadata.get('name') or f'#{self.index + 1}'}"
        namespace = metadata.get("namespace")
        named = isinstance(namespace, str) and namespace and not namespace_problem(namespace)
        return f"{label} (namespace {namespace})" if named else label

    @property
    def is_agentos(self) -> bool:
        """Meant as an AgentOSConfig (even a misspelt one): its kind or its API group says so, or nothing else does."""
        if not isinstance(self.body, dict):
            return self.body is not None
        api_version = str(self.body.get("apiVersion") or "")
        if not api_version and not self.body.get("kind"):
            return not self.is_runtime_config  # an object without apiVersion and kind: flag it
        return self.body.get("kind") == KIND or api_version.startswith(f"{GROUP}/")

    @property
    def is_runtime_config(self) -> bool:
        """A runtime config file's content (``agentos serve --config``): a mapping with no Kubernetes object keys."""
        return isinstance(self.body, dict) and not OBJECT_KEYS & self.body.keys()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="FILE",
        help="YAML file with AgentOSConfig resources or a runtime config; '-' reads standard input",
    )
    parser.add_argument(
        "-f",
        "--filename",
        dest="files",
        action="append",
        default=[],
        metavar="FILE",
        help="the same as FILE; repeat for more files",
    )
    parser.add_argument(
        "--image",
        help="runtime image of resources that name none, as the chart's runtimeImage (default: the bundled"
        " one); tools another image may install are then left for its runtime to check",
    )


def run(args: argparse.Namespace) -> int:
    files = [*args.files, *args.paths]
    if not files:
        sys.stderr.write("agentos validate: no file given: name one or more (FILE..., or -f FILE)\n")
        return 2
    if usage := option_problem(files, image=args.image):
        say(f"agentos validate: {usage}", sys.stderr)
        return 2
    found = failed = 0
    seen = Duplicates()
    for document in read_documents(files):
        if document.error is not None:
            failed += 1
            say(f"{document.source}: {document.error}")
            continue
        if not isinstance(document.body, dict):
            problems = [_not_a_mapping(document.body)]
        elif document.is_runtime_config:
            problems = runtime_config_problems(document)
        elif document.is_agentos:
            problems = resource_problems(document.body, default_image=args.image) + seen.check(document)
        else:
            continue
        found += 1
        failed += bool(problems)
        for problem in problems:
            say(f"{document.source}: {document.label}: {problem}")
        if not problems:
            say(f"{document.source}: {document.label}: valid")
            if document.is_agentos:
                for note in resource_notes(document.body, default_image=args.image):
                    say(f"{document.source}: {document.label}: note: {note}")
    if not found and not failed:
        say(f"{', '.join(files)}: no {KIND} resource and no runtime config found")
        return 1
    return 1 if failed else 0


def option_problem(files: Sequence[str], *, image: str | None, secrets_from: str | None = None) -> str | None:
    """Pure: what is wrong with the options of ``validate`` or ``render`` (one line), or ``None``."""
    from agentos_operator.resources import PATTERN_HINTS
    from agentos_operator.spec import IMAGE_MAX_LENGTH, IMAGE_PATTERN

    if [*files, secrets_from].count("-") > 1:
        return "'-' (standard input) is given more than once: it can be read once, give it once"
    if image is None:
        return None
    if not image.strip():
        return "--image: empty: name an image, or leave the option out for the default"
    if len(image) > IMAGE_MAX_LENGTH or not re.fullmatch(IMAGE_PATTERN, image):
        return f"--image: {PATTERN_HINTS[IMAGE_PATTERN]}"
    return None


def say(line: str, stream: Any = None) -> None:
    """Write one line (standard output by default), its unprintable characters escaped: a
    control character in a key would reach the terminal, a lone surrogate would stop the write."""
    (stream or sys.stdout).write(one_line(line) + "\n")


class Duplicates:
    """Which AgentOSConfigs (by namespace and name) the input holds already: the second of a
    name would replace the first when applied, so it is a problem of the input."""

    def __init__(self) -> None:
        self._first: dict[tuple[str, str], str] = {}

    def check(self, document: Document) -> list[Problem]:
        from agentos_runtime.config import Problem

        metadata = document.body.get("metadata") if isinstance(document.body, dict) else None
        if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
            return []
        namespace = metadata.get("namespace")
        key = (namespace if isinstance(namespace, str) and namespace else "default", metadata["name"])
        first = self._first.get(key)
        if first is None:
            self._first[key] = f"{document.source}, document {document.index + 1}"
            return []
        return [Problem(("metadata", "name"), f"the same resource is given twice (first in {first}): keep one")]


def resource_problems(body: Any, *, default_image: str | None = None) -> list[Problem]:
    """Every problem of an AgentOSConfig ``body``: what the operator would refuse, and what the API server would refuse of its children.

    The children are rendered as the operator would render them (placeholder Secret values:
    none of the checks reads one) and checked offline (``render.check_manifests``). Problems
    of the envelope (apiVersion, kind, metadata) hide none of the spec's; those of the spec hide
    none of the children's deployment-only fields (``_children_problems_despite``).
    ``default_image``: the image of resources that name none (``parse_resource``).
    """
    check = functools.partial(_check_resource, default_image=default_image)
    problems = check(body)
    if not problems:
        return []
    spec_body = _with_valid_envelope(body) if any(_in_envelope(p.path) for p in problems) else body
    if spec_body is None:
        return problems
    from agentos_operator.stand_ins import stand_in

    more = checking.every_problem(spec_body, check, root=("spec",), stand_in=stand_in)
    found = problems + [problem for problem in more if problem not in problems]
    return found + [problem for problem in _children_problems_despite(spec_body) if problem not in found]


def runtime_config_problems(document: Document) -> list[Problem]:
    """Every problem ``agentos serve --config`` would find in the file ``document`` comes from."""
    from agentos_runtime.config import Problem

    from agentos_operator.stand_ins import stand_in

    # The spec holds the runtime config's fields: a stand-in the CRD's schema takes at a field
    # (a workflow step's ``name``) is one the runtime's takes at the same field of the file.
    problems = checking.every_problem(document.body, serve_problems, stand_in=lambda path: stand_in(("spec", *path)))
    if document.siblings > 1:
        problems.insert(
            0,
            Problem(
                (),
                f"the file holds {document.siblings} YAML documents and the runtime reads exactly one:"
                " keep the runtime config alone in its file",
            ),
        )
    return problems


_KINDS_OF_VALUE: dict[type, str] = {
    bool: "true or false",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "a list",
}


def _not_a_mapping(body: Any) -> Problem:
    from agentos_runtime.config import Problem

    return Problem(
        (),
        f"{_KINDS_OF_VALUE.get(type(body), 'a value')} where an AgentOSConfig resource or a runtime config"
        " (a mapping) was expected:"
        " write the document as key: value pairs",
    )


def resource_notes(body: Any, *, default_image: str | None = None) -> list[str]:
    """Advice on a valid resource, which the operator posts as a Warning event: a setting that
    is allowed but likely not what was meant (an Ingress the NetworkPolicy keeps out)."""
    from agentos_runtime.config import ConfigError

    from agentos_operator import render
    from agentos_operator.resources import parse_resource

    try:
        resource = parse_resource(body, default_image=default_image)
    except ConfigError:
        return []
    advice = render.unadmitted_ingress(resource)
    return [advice] if advice else []


def _check_resource(body: Any, *, default_image: str | None = None) -> list[Problem]:
    from agentos_runtime.config import ConfigError

    from agentos_operator import render
    from agentos_operator.resources import parse_resource

    unknown = envelope_problems(body)
    try:
        resource = parse_resource(body, default_image=default_image)
    except ConfigError as error:
        return unknown + list(error.problems)
    try:
        manifests = render.render(
            resource,
            render.placeholder_secrets(resource),
            settings=render.RenderSettings(default_image=render.DEFAULT_RUNTIME_IMAGE),
        )
    except ConfigError as error:
        return unknown + list(error.problems)
    return unknown + render.check_manifests(resource, manifests)


def _children_problems_despite(body: Any) -> list[Problem]:
    """What the API server would refuse of the children of a resource whose spec has problems:
    those of its deployment-only fields, checked on what the children take of the spec
    (``resources.deployment_view``), so a request above its limit shows in the same run as an
    unknown model."""
    from agentos_runtime.config import ConfigError

    from agentos_operator import render
    from agentos_operator.resources import DEPLOYMENT_ONLY_FIELDS, deployment_view

    view = deployment_view(body)
    if view is None:
        return []
    try:
        manifests = render.render(
            view,
            render.placeholder_secrets(view),
            settings=render.RenderSettings(default_image=render.DEFAULT_RUNTIME_IMAGE),
        )
    except ConfigError:
        return []  # the models, databases, MCP servers or knowledge bases are at fault: reported
    return [
        problem
        for problem in render.check_manifests(view, manifests)
        if len(problem.path) > 1 and problem.path[1] in DEPLOYMENT_ONLY_FIELDS
    ]


# The fields of an object's top level and of its ObjectMeta, as the API server knows them: with
# kubectl's default strict field validation, any other is refused.
OBJECT_FIELDS = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})
OBJECT_META_FIELDS = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)


def envelope_problems(body: Any) -> list[Problem]:
    """Pure: what ``kubectl apply`` would refuse of the envelope: unknown fields (the spec's own
    are the schema's), labels that are no labels."""
    from agentos_runtime.config import Problem

    from agentos_operator.render.labels import label_key_problem, label_value_problem

    if not isinstance(body, Mapping):
        return []
    problems = [
        Problem((key,), "unknown field: an object has apiVersion, kind, metadata and spec")
        for key in body
        if key not in OBJECT_FIELDS
    ]
    metadata = body.get("metadata")
    if isinstance(metadata, Mapping):
        problems += [
            Problem(("metadata", key), "unknown field of metadata: check its spelling")
            for key in metadata
            if key not in OBJECT_META_FIELDS
        ]
        labels = metadata.get("labels")
        for key, value in labels.items() if isinstance(labels, Mapping) else ():
            if not isinstance(key, str) or not isinstance(value, str):
                why = "a label's key and value must be strings: write them in quotes"
            else:
                why = label_key_problem(key) or label_value_problem(value)
            if why:
                problems.append(Problem(("metadata", "labels", str(key)), why))
    return problems


def _in_envelope(path: Sequence[str | int]) -> bool:
    return not path or path[0] != "spec"


def _with_valid_envelope(body: Any) -> dict[str, Any] | None:
    """``body``'s spec under a valid apiVersion, kind and name, to check the spec despite them; None without a spec."""
    from agentos_operator.resources import API_VERSION, NAME_MAX_LENGTH, NAME_PATTERN

    if not isinstance(body, Mapping) or not isinstance(body.get("spec"), Mapping):
        return None
    metadata = body.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    name = metadata.get("name")
    valid_name = isinstance(name, str) and len(name) <= NAME_MAX_LENGTH and re.fullmatch(NAME_PATTERN, name)
    namespace = metadata.get("namespace")
    envelope = {"name": name if valid_name else "resource"}
    if isinstance(namespace, str):
        envelope["namespace"] = namespace
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": envelope, "spec": body["spec"]}


def read_documents(files: Sequence[str]) -> Iterator[Document]:
    """Every non-empty document of every file, in order, the items of a ``List`` (what ``kubectl
    get -o yaml`` prints) each as a document of its own; an unreadable file yields one error document.

    Unreadable means missing, not UTF-8, not YAML, or hostile YAML (``reading``): each is one
    line naming the problem, never a traceback, and nothing of a hostile file is expanded.
    """
    for source in files:
        try:
            bodies = reading.load_documents(reading.decode(_read_bytes(source)))
        except OSError as error:
            yield Document(source, 0, None, f"cannot read: {error.strerror or error}")
            continue
        except reading.InputError as error:
            yield Document(source, 0, None, str(error))
            continue
        for index, body in enumerate(bodies):
            if isinstance(body, dict) and body.get("kind") == "List" and "items" in body:
                items = body["items"]
                if not isinstance(items, list):
                    yield Document(source, index, None, f"document {index + 1}: a List's items must be a list")
                    continue
                for item in items:
                    yield _as_stored(Document(source, index, item, siblings=len(bodies) + len(items)))
            elif body is not None:
                yield _as_stored(Document(source, index, body, siblings=len(bodies)))


def _as_stored(document: Document) -> Document:
    """An AgentOSConfig as the API server stores it: its keys set to null dropped (a list whose
    items are all commented out reads as null), as it drops them from a CRD's fields that are not
    nullable, so that what is checked here is what the operator gets; an empty namespace taken
    for none, as kubectl takes it. Other documents as read."""
    if not document.is_agentos or not isinstance(document.body, dict):
        return document
    body = without_nulls(document.body)
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and metadata.get("namespace") == "":
        body["metadata"] = {key: value for key, value in metadata.items() if key != "namespace"}
    return replace(document, body=body)


def without_nulls(value: Any) -> Any:
    """Pure: ``value`` with every mapping's null-valued keys left out, at any depth (list items stay)."""
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


def _read_bytes(source: str) -> bytes:
    """The file's bytes ('-' is standard input), regular files only and at most
    ``reading.MAX_FILE_BYTES``: decoding is ``reading.decode``'s, so its errors are ours."""
    if source != "-":
        return reading.file_bytes(source)
    if sys.stdin is None:  # started with standard input closed
        raise reading.InputError("standard input is closed: nothing to read")
    stream = getattr(sys.stdin, "buffer", None)
    data = stream.read(reading.MAX_FILE_BYTES + 1) if stream is not None else sys.stdin.read().encode("utf-8")
    return reading.within_limit(data)
