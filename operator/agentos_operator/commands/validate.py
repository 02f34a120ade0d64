"""Check AgentOSConfig resources offline, as the operator and the API server would.

Reads YAML files (several documents each; `-` is standard input) and prints every problem
with its field path, e.g.

  cr.yaml: AgentOSConfig/demo: spec.agents[2].model: unknown model 'gpt-5': ...

A resource the operator accepts is then rendered, and its children checked for what the API
server would refuse (a request above its limit, a bad CIDR, a variable named twice, the metrics
port on the HTTP port, an over-size ConfigMap): the problem is still reported at the spec field
to change. Types are checked as the API server checks them: `replicas: "2"` is a string, not an
integer. A file that is not UTF-8, not YAML, or hostile YAML (an alias bomb, absurd nesting) is
one line of error, refused before anything expands it.

Documents of other kinds (a Secret next to the resource) are skipped. Exit status: 0 when
every AgentOSConfig is valid, 1 on any problem.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentos_operator import GROUP, KIND
from agentos_operator.commands import reading

if TYPE_CHECKING:
    from agentos_runtime.config import Problem


@dataclass(frozen=True)
class Document:
    """One YAML document of an input file, or the reason it could not be read."""

    source: str
    index: int
    body: Any
    error: str | None = None

    @property
    def label(self) -> str:
        body = self.body if isinstance(self.body, dict) else {}
        metadata = body.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        return f"{body.get('kind') or '?'}/{metadata.get('name') or f'#{self.index}'}"

    @property
    def is_agentos(self) -> bool:
        """Meant as an AgentOSConfig (even a misspelt one): its kind or its API group says so."""
        if not isinstance(self.body, dict):
            return self.body is not None
        api_version = str(self.body.get("apiVersion") or "")
        return self.body.get("kind") == KIND or api_version.startswith(f"{GROUP}/")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-f",
        "--filename",
        dest="files",
        action="append",
        required=True,
        metavar="FILE",
        help="YAML file with one or more resources; repeat for more files; '-' reads standard input",
    )


def run(args: argparse.Namespace) -> int:
    found = failed = 0
    for document in read_documents(args.files):
        if document.error is not None:
            failed += 1
            sys.stdout.write(f"{document.source}: {document.error}\n")
            continue
        if not document.is_agentos:
            continue
        found += 1
        problems = resource_problems(document.body)
        failed += bool(problems)
        for problem in problems:
            sys.stdout.write(f"{document.source}: {document.label}: {problem}\n")
        if not problems:
            sys.stdout.write(f"{document.source}: {document.label}: valid\n")
    if not found and not failed:
        sys.stdout.write(f"{', '.join(args.files)}: no {KIND} resource found\n")
        return 1
    return 1 if failed else 0


def resource_problems(body: Any) -> list[Problem]:
    """What the operator would refuse of ``body``, else what the API server would refuse of its children.

    The children are rendered as the operator would render them (placeholder Secret values:
    none of the checks reads one) and checked offline (``render.check_manifests``).
    """
    from agentos_runtime.config import ConfigError

    from agentos_operator import render
    from agentos_operator.resources import parse_resource

    try:
        resource = parse_resource(body)
        settings = render.RenderSettings(default_image=render.DEFAULT_RUNTIME_IMAGE)
        manifests = render.render(resource, render.placeholder_secrets(resource), settings=settings)
    except ConfigError as error:
        return list(error.problems)
    return render.check_manifests(resource, manifests)


def read_documents(files: Sequence[str]) -> Iterator[Document]:
    """Every non-empty document of every file, in order; an unreadable file yields one error document.

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
            if body is not None:
                yield Document(source, index, body)


def _read_bytes(source: str) -> bytes:
    """The file's bytes ('-' is standard input): decoding is ``reading.decode``'s, so its errors are ours."""
    if source != "-":
        return Path(source).read_bytes()
    stream = getattr(sys.stdin, "buffer", None)
    return stream.read() if stream is not None else sys.stdin.read().encode("utf-8")
