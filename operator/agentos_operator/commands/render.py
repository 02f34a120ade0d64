"""Print the manifests an AgentOSConfig becomes: what the operator would apply.

  agentos render cr.yaml [-n NAMESPACE] [--secrets-from secrets.yaml] [--image IMG]

`--secrets-from` reads Secret objects (`data` base64 or `stringData`) standing for the
cluster's; without it, marked placeholder values are used, and the output says so three times:
a comment at its top, a comment above each Secret, and an annotation on each Secret
(`agentos.dev/placeholder-values`), which stays on the object if it is applied anyway.
`-n` renders into NAMESPACE a resource that names none (as `kubectl apply -n` does); one naming
another namespace is refused, as kubectl refuses it. Every AgentOSConfig in the input is
rendered. Exit status: 0 on success, 1 when a resource is invalid, a referenced Secret value is
missing, or the API server would refuse a rendered object (the checks of `agentos validate`);
nothing is printed then.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agentos_operator.commands.validate import (
    Document,
    Duplicates,
    envelope_problems,
    option_problem,
    read_documents,
    resource_problems,
    say,
)

if TYPE_CHECKING:
    from agentos_operator.resources import AgentOSResource

PLACEHOLDER_NOTE = "Secret values are placeholders: pass --secrets-from FILE to render real ones."
# On each Secret rendered with placeholder values, so that one applied by mistake says what it holds.
PLACEHOLDER_ANNOTATION = "agentos.dev/placeholder-values"
PLACEHOLDER_SECRET_NOTE = "Placeholder values, not real ones: render with --secrets-from FILE to fill them."
GENERATED_KEY_SECRET_NOTE = (
    "OS_SECURITY_KEY is a placeholder, which the runtime refuses: the operator generates the key in the cluster; "
    "every other value is from --secrets-from FILE."
)
GENERATED_KEY_NOTE = (
    "The security key is a placeholder: the operator generates it in the cluster "
    "(the Secret <name>-security-key), which --secrets-from FILE does not hold."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="*", metavar="FILE", help="YAML file with AgentOSConfig resources; '-' reads standard input"
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
        "--secrets-from",
        metavar="FILE",
        help="YAML file of Secret objects supplying the referenced keys (default: placeholder values)",
    )
    parser.add_argument(
        "-n",
        "--namespace",
        help="namespace of resources that name none (default: 'default'); one naming another is refused",
    )
    parser.add_argument("--image", help="runtime image for resources that name none (default: the operator's)")


def run(args: argparse.Namespace) -> int:
    from agentos_runtime.config import ConfigError

    from agentos_operator import render
    from agentos_operator.errors import MissingSecretsError, OperatorError
    from agentos_operator.resources import namespace_problem, parse_resource

    files = [*args.files, *args.paths]
    if not files:
        sys.stderr.write("agentos render: no file given: name one or more (FILE..., or -f FILE)\n")
        return 2
    if args.namespace is not None and (why := namespace_problem(args.namespace)):
        say(f"agentos render: -n: {why}", sys.stderr)
        return 2
    if usage := option_problem(files, image=args.image, secrets_from=args.secrets_from):
        say(f"agentos render: {usage}", sys.stderr)
        return 2
    documents = list(read_documents(files))
    secrets, secret_errors = ({}, []) if args.secrets_from is None else _read_secrets(args.secrets_from)
    errors = [f"{d.source}: {d.error}" for d in documents if d.error is not None] + secret_errors
    settings = render.RenderSettings(default_image=args.image or render.DEFAULT_RUNTIME_IMAGE)
    manifests: list[tuple[dict[str, Any], bool]] = []  # and whether its Secrets hold placeholders
    seen = Duplicates()
    for document in (d for d in documents if d.error is None and d.is_agentos):
        body, conflict = in_namespace(document.body, args.namespace)
        if conflict:
            errors.append(f"{document.source}: {document.label}: {conflict}")
            continue
        refused = seen.check(Document(document.source, document.index, body, siblings=document.siblings))
        if refused or envelope_problems(body):  # kubectl apply would refuse the object itself
            # Every problem at once, the spec's and its children's too, as `agentos validate` says them.
            refused += resource_problems(body, default_image=args.image)
            errors.extend(f"{document.source}: {document.label}: {problem}" for problem in refused)
            continue
        try:
            resource = parse_resource(body, default_image=args.image)
            if args.secrets_from is None:
                values, placeholders = render.placeholder_secrets(resource), True
            else:
                values = secrets_of_namespace(secrets, resource.namespace)
                generated = generated_key_stand_in(resource, values)
                values, placeholders = {**values, **generated}, bool(generated)
            rendered = render.render(resource, values, settings=settings)
            # Manifests the API server would refuse are not printed: a pipe into kubectl stops here.
            refused = render.check_manifests(resource, rendered)
            errors.extend(f"{document.source}: {document.label}: {problem}" for problem in refused)
            manifests.extend((manifest, placeholders) for manifest in (rendered if not refused else []))
        except ConfigError as error:
            # Every problem, those the first ones hide included, as `agentos validate` reports them.
            problems = resource_problems(body, default_image=args.image) or list(error.problems)
            errors.extend(f"{document.source}: {document.label}: {problem}" for problem in problems)
        except MissingSecretsError as error:
            errors.append(f"{document.source}: {document.label}: {error} (in {args.secrets_from})")
        except OperatorError as error:  # the Secret values do not fit the one Secret they go to
            errors.append(f"{document.source}: {document.label}: {error}")
    if errors:
        for line in errors:
            say(line, sys.stderr)
        return 1
    if not manifests:
        say(f"{', '.join(files)}: no AgentOSConfig resource found", sys.stderr)
        return 1
    if args.secrets_from is None:
        sys.stdout.write(dump_marked(manifests, note=PLACEHOLDER_NOTE))
    else:
        sys.stdout.write(dump_marked(manifests, note=GENERATED_KEY_NOTE, secret_note=GENERATED_KEY_SECRET_NOTE))
    return 0


def in_namespace(body: Any, namespace: str | None) -> tuple[Any, str | None]:
    """Pure: ``body`` placed in ``namespace`` when it names none, and why not when it names another.

    Returns ``(body, None)`` or ``(body, problem)``; ``body`` itself is never changed.
    """
    if namespace is None or not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
        return body, None
    named = body["metadata"].get("namespace")
    if named is None:
        return {**body, "metadata": {**body["metadata"], "namespace": namespace}}, None
    if named != namespace:
        return body, (
            f"metadata.namespace: the resource names namespace {named!r}, not {namespace!r} as -n asks:"
            " drop one of the two"
        )
    return body, None


def dump_with_placeholders(manifests: Sequence[Mapping[str, Any]]) -> str:
    """The YAML of ``manifests`` rendered from placeholder values: each Secret annotated and commented as such."""
    return dump_marked([(manifest, True) for manifest in manifests], note=PLACEHOLDER_NOTE)


def dump_marked(
    manifests: Sequence[tuple[Mapping[str, Any], bool]], *, note: str, secret_note: str = PLACEHOLDER_SECRET_NOTE
) -> str:
    """The YAML of ``manifests``; the Secrets of those marked hold placeholder values, and are
    annotated and commented with ``secret_note``, below ``note`` at the top. Nothing marked: plain YAML."""
    from agentos_operator import render

    parts = []
    for manifest, marked in manifests:
        if not marked or manifest.get("kind") != "Secret":
            parts.append(render.dump_manifests([manifest]))
            continue
        metadata = dict(manifest["metadata"])
        metadata["annotations"] = {**metadata.get("annotations", {}), PLACEHOLDER_ANNOTATION: secret_note}
        text = render.dump_manifests([{**manifest, "metadata": metadata}])
        parts.append(text.replace("---\n", f"---\n# {secret_note}\n", 1))
    top = f"# {note}\n" if any(marked for _, marked in manifests) else ""
    return top + "".join(parts)


def generated_key_stand_in(
    resource: AgentOSResource, values: Mapping[tuple[str, str], str]
) -> dict[tuple[str, str], str]:
    """Pure: a placeholder for the security key the operator generates in the cluster (a resource
    naming no ``securityKeySecretRef``), when the Secrets given do not hold it; else nothing.
    Nobody creates that Secret by hand (the operator refuses one it did not make)."""
    from agentos_operator import render

    if resource.spec.security_key_secret_ref is not None:
        return {}
    ref = render.security_key_ref(resource)
    return {} if ref in values else {ref: render.placeholder_secrets(resource)[ref]}


def secrets_of_namespace(
    secrets: Mapping[tuple[str | None, str, str], str], namespace: str
) -> dict[tuple[str, str], str]:
    """Pure: (Secret name, key) → value for a resource in ``namespace``, as the operator reads its
    references, in its own namespace only: a Secret that names ``namespace``, else one that names
    none (a file of stand-ins for any namespace); never another namespace's Secret of that name."""
    anywhere = {(name, key): value for (where, name, key), value in secrets.items() if where is None}
    own = {(name, key): value for (where, name, key), value in secrets.items() if where == namespace}
    return {**anywhere, **own}


def _read_secrets(path: str) -> tuple[dict[tuple[str | None, str, str], str], list[str]]:
    """(namespace, Secret name, key) → value from every Secret in the file (``None`` for a Secret
    that names no namespace), and what could not be read.

    A Secret is checked as the API server checks one: a mapping ``metadata`` with a name,
    ``data`` of base64 strings, ``stringData`` of strings. Problems name the Secret and the
    key, never a value.
    """
    values: dict[tuple[str | None, str, str], str] = {}
    errors: list[str] = []
    for document in read_documents([path]):
        if document.error is not None:
            errors.append(f"{path}: {document.error}")
            continue
        secrets, problems = _secrets_in(document)
        errors += [f"{path}: {problem}" for problem in problems]
        for secret in secrets:
            metadata = secret.get("metadata")
            name = metadata.get("name") if isinstance(metadata, dict) else None
            if not isinstance(name, str) or not name:
                errors.append(f"{path}: a Secret without metadata.name")
                continue
            namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
            if namespace is not None and (not isinstance(namespace, str) or not namespace):
                errors.append(f"{path}: Secret/{name}: metadata.namespace must be a namespace's name")
                continue
            for field in ("data", "stringData"):
                entries = secret.get(field)
                if entries is None:
                    continue
                if not isinstance(entries, dict):
                    errors.append(f"{path}: Secret/{name}: {field} must be a mapping of keys to values")
                    continue
                for key, value in entries.items():
                    if not isinstance(key, str) or not isinstance(value, str):
                        errors.append(f"{path}: Secret/{name}: {field}.{key} must be a string key with a string value")
                    elif field == "stringData":
                        values[(namespace, name, key)] = value
                    else:
                        try:
                            values[(namespace, name, key)] = base64.b64decode(value, validate=True).decode("utf-8")
                        except (binascii.Error, UnicodeDecodeError):
                            # Name the key, never the content.
                            errors.append(f"{path}: Secret/{name}: data.{key} is not base64-encoded UTF-8")
    return values, errors


def _secrets_in(document: Document) -> tuple[list[dict[str, Any]], list[str]]:
    """The Secret a document is (a ``List``'s items come as documents of their own), if any."""
    body = document.body
    return ([body] if isinstance(body, dict) and body.get("kind") == "Secret" else []), []
