"""Check AgentOSConfig resources offline, as the operator and the API server would.

Reads YAML files (several documents each; `-` is standard input) and prints every problem
with its field path, e.g.

  cr.yaml: AgentOSConfig/demo: spec.agents[2].model: unknown model 'gpt-5': ...

Documents of other kinds (a Secret next to the resource) are skipped. Exit status: 0 when
every AgentOSConfig is valid, 1 on any problem.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from agentos_operator import GROUP, KIND


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
    from agentos_operator.resources import validate_resource

    found = failed = 0
    for document in read_documents(args.files):
        if document.error is not None:
            failed += 1
            sys.stdout.write(f"{document.source}: {document.error}\n")
            continue
        if not document.is_agentos:
            continue
        found += 1
        problems = validate_resource(document.body)
        failed += bool(problems)
        for problem in problems:
            sys.stdout.write(f"{document.source}: {document.label}: {problem}\n")
        if not problems:
            sys.stdout.write(f"{document.source}: {document.label}: valid\n")
    if not found and not failed:
        sys.stdout.write(f"{', '.join(args.files)}: no {KIND} resource found\n")
        return 1
    return 1 if failed else 0


def read_documents(files: Sequence[str]) -> Iterator[Document]:
    """Every non-empty document of every file, in order; unreadable files yield one error document."""
    for source in files:
        try:
            text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
            bodies = list(yaml.safe_load_all(text))
        except OSError as error:
            yield Document(source, 0, None, f"cannot read: {error.strerror}")
            continue
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
            yield Document(source, 0, None, f"not valid YAML: {where}{getattr(error, 'problem', None) or error}")
            continue
        for index, body in enumerate(bodies):
            if body is not None:
                yield Document(source, index, body)
