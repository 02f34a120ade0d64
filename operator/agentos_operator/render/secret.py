"""The ``<name>-env`` Secret: API keys, database URLs and the security key, as env variables.

Values come from the Secrets the resource references (read by the caller and passed in);
they are written base64-encoded under ``data`` and nowhere else. Errors name the Secret and
key that is missing or empty, and the fields naming it, never a value.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from agentos_operator.errors import SECRET_MAX_BYTES, MissingSecretsError, SecretsTooLargeError
from agentos_operator.render import layout
from agentos_operator.render.environment import Environment, EnvSource, SecretRef, environment_refs

# CloudNativePG and most providers write `postgresql://` or `postgres://`; the runtime's
# SQLAlchemy engine needs the driver named.
_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_POSTGRES_DRIVER_SCHEME = "postgresql+psycopg://"


def env_values(environment: Environment, secrets: Mapping[SecretRef, str]) -> dict[str, str]:
    """Each variable's value; raises ``MissingSecretsError`` naming every absent (Secret, key),
    the MCP sidecars' included (they read theirs from the referenced Secrets themselves), or
    every empty one that must hold a value (``Referrer.needs_value``), and
    ``SecretsTooLargeError`` when the values would not fit in one Secret."""
    named = environment.referrers
    missing = [ref for ref in environment_refs(environment) if ref not in secrets]
    if missing:
        raise MissingSecretsError(missing, named_by=named)
    values = {env: _value(source, secrets[source.ref]) for env, source in sorted(environment.sources.items())}
    # A model or embedder key, a database URL, an MCP header or env value that is empty (or only
    # whitespace, which is stripped) is a mistake (a Secret made from an unset shell variable):
    # the runtime would start without a credential, or refuse to start (MCP). Said here, on the
    # resource, instead of by failed runs or a crash-looping pod.
    needed = {ref for ref, referrer in named if referrer.needs_value}
    empty = sorted(ref for ref in needed if not secrets[ref].strip())
    if empty:
        raise MissingSecretsError([], empty=empty, only_whitespace=[r for r in empty if secrets[r]], named_by=named)
    sizes = {env: len(env.encode()) + len(value.encode()) for env, value in values.items()}
    if sum(sizes.values()) > SECRET_MAX_BYTES:
        largest = sorted(sizes, key=lambda env: (-sizes[env], env))
        raise SecretsTooLargeError(
            sum(sizes.values()),
            [(*environment.sources[env].ref, env, len(values[env].encode())) for env in largest],
        )
    return values


def render_env_secret(resource_name: str, namespace: str, uid: str | None, values: Mapping[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": layout.object_metadata(
            layout.env_secret_name(resource_name), namespace, owner_name=resource_name, owner_uid=uid
        ),
        "type": "Opaque",
        "data": {env: base64.b64encode(value.encode()).decode("ascii") for env, value in sorted(values.items())},
    }


def _value(source: EnvSource, raw: str) -> str:
    # Files made with `kubectl create secret --from-file` often end in a newline, which no key
    # or URL contains legitimately and which breaks HTTP headers: strip surrounding whitespace.
    value = raw.strip()
    if source.postgres_url:
        for scheme in _POSTGRES_SCHEMES:
            if value.startswith(scheme):
                return _POSTGRES_DRIVER_SCHEME + value[len(scheme) :]
    return value
