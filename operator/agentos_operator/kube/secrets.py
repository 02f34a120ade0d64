"""Referenced Secrets: read the values render needs, and create the generated security key once.

Only Secrets in the resource's own namespace are read (a reference cannot reach across
namespaces). Values are returned to the caller and go nowhere else: errors name the Secret and
key that is missing, never what any Secret holds.

With a Secret watch, the store knows every Secret's resourceVersion but keeps data only of
the operator's own; a referenced Secret is read once per version and its data kept in a
``SecretCache``, so an unchanged Secret costs no request. Without a watch, each read asks the
API server.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from agentos_operator import render
from agentos_operator.errors import OperatorError
from agentos_operator.kube.client import ApiClient, ApiConflictError
from agentos_operator.kube.kinds import SECRET
from agentos_operator.kube.store import Store
from agentos_operator.render import layout
from agentos_operator.resources import AgentOSResource

# 32 random bytes: the strength of a 256-bit key, URL-safe so it can sit in an HTTP header as is.
SECURITY_KEY_BYTES = 32


@dataclass
class UnresolvedSecretsError(OperatorError):
    """Referenced Secrets that do not exist, and keys absent from (or unreadable in) those that do."""

    missing_secrets: list[str] = field(default_factory=list)
    missing_keys: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        parts = [f"Secret '{name}' not found" for name in self.missing_secrets]
        parts += [f"Secret '{name}' has no key '{key}'" for name, key in self.missing_keys]
        return "; ".join(parts)


class SecretCache:
    """The data of referenced Secrets, each as read at one resourceVersion."""

    def __init__(self) -> None:
        self._data: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}

    def get(self, namespace: str, name: str, version: str) -> dict[str, Any] | None:
        """The data read at ``version``; None when not read at that version."""
        found = self._data.get((namespace, name))
        return found[1] if found is not None and found[0] == version else None

    def put(self, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        self._data[(meta["namespace"], meta["name"])] = (str(meta.get("resourceVersion")), body.get("data") or {})

    def forget(self, namespace: str, name: str) -> None:
        self._data.pop((namespace, name), None)


async def secret_data(
    api: ApiClient, store: Store, cache: SecretCache, namespace: str, name: str
) -> dict[str, Any] | None:
    """A Secret's data; None when the Secret does not exist."""
    body = await store.get(SECRET, namespace, name)
    if body is None or "data" in body or not store.watches(SECRET):
        return None if body is None else body.get("data") or {}
    # The store keeps this Secret by metadata only: its data as read at this version, or read now.
    version = str(body["metadata"].get("resourceVersion"))
    data = cache.get(namespace, name, version)
    if data is None:
        fresh = await api.get(SECRET, namespace, name)
        if fresh is None:
            return None
        cache.put(fresh)
        data = fresh.get("data") or {}
    return data


async def read_secret_values(
    api: ApiClient, store: Store, cache: SecretCache, namespace: str, refs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """The decoded value of every (Secret, key); raises ``UnresolvedSecretsError`` listing all that are missing."""
    wanted: dict[str, list[str]] = {}
    for name, key in sorted(set(refs)):
        wanted.setdefault(name, []).append(key)
    values: dict[tuple[str, str], str] = {}
    problem = UnresolvedSecretsError()
    for name, keys in wanted.items():
        data = await secret_data(api, store, cache, namespace, name)
        if data is None:
            problem.missing_secrets.append(name)
            continue
        for key in keys:
            value = _decode(data.get(key))
            if value is None:
                problem.missing_keys.append((name, key))
            else:
                values[(name, key)] = value
    if problem.missing_secrets or problem.missing_keys:
        raise problem
    return values


def _decode(encoded: Any) -> str | None:
    """A Secret data value as text; None when absent or not UTF-8 (the runtime reads env vars as text)."""
    if not isinstance(encoded, str):
        return None
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def generated_security_key(resource: AgentOSResource) -> dict[str, Any] | None:
    """The Secret to generate when the spec names no security key; None when it names one."""
    if resource.spec.security_key_secret_ref is not None:
        return None
    name, key = render.security_key_ref(resource)
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": resource.namespace,
        "labels": render.labels(resource.name),
        "ownerReferences": layout.object_metadata(
            name, resource.namespace, owner_name=resource.name, owner_uid=resource.uid
        ).get("ownerReferences", []),
    }
    token = secrets.token_urlsafe(SECURITY_KEY_BYTES)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "Opaque",
        "data": {key: base64.b64encode(token.encode()).decode("ascii")},
    }


async def ensure_security_key(api: ApiClient, store: Store, resource: AgentOSResource, *, field_manager: str) -> bool:
    """Create the generated security-key Secret if it does not exist; never touch an existing one.

    Returns True when it was created now. A key that changed would log every client out, so
    an existing Secret is kept even if someone edited it.
    """
    manifest = generated_security_key(resource)
    if manifest is None:
        return False
    if await store.get(SECRET, resource.namespace, manifest["metadata"]["name"]) is not None:
        return False
    try:
        created = await api.create(manifest, field_manager=field_manager)
    except ApiConflictError:
        return False  # another replica or a retry created it first: theirs is the key
    store.wrote(SECRET, created, sent=manifest, owner=(resource.namespace, resource.name))
    return True
