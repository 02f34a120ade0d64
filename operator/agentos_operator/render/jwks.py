"""The JWKS Secret (``spec.jwtJwksSecretRef``): mounted into the runtime pods, never read by render.

Identity providers rotate keys, so the JWKS must reach running pods without restarting them.
The Secret's one key is projected as a file of a read-only Secret volume, and the runtime is
told its path (``JWT_JWKS_FILE``): the kubelet refreshes the file when the Secret changes, and
the runtime reads it again when a token names a kid it lacks. The volume, not a ``subPath``
mount: a ``subPath`` file is never refreshed.

Its value is not copied into the ``<name>-env`` Secret and not part of the config hash (unlike
``jwtVerificationKeySecretRef``, an environment variable, whose change rolls the pods): a
rotation restarts nothing. The operator only checks that the Secret and its key exist
(``mounted_secret_refs``), so a missing one is reported in the status instead of leaving the
pods in ``ContainerCreating``.
"""

from __future__ import annotations

from typing import Any

from agentos_operator.render.environment import SecretRef
from agentos_operator.resources import AgentOSResource

JWKS_FILE_ENV = "JWT_JWKS_FILE"
JWKS_VOLUME = "jwt-jwks"
# Beside the config (/etc/agentos), never inside it: a volume mounted inside another one hides part of it.
JWKS_DIR = "/var/run/secrets/agentos-jwks"
JWKS_FILE_NAME = "jwks.json"
# Owner and group may read (the pod's fsGroup is the runtime's group); nobody else, nobody writes.
JWKS_FILE_MODE = 0o440


def jwks_ref(resource: AgentOSResource) -> SecretRef | None:
    """The (Secret, key) holding the JWKS, or None when the spec names none."""
    ref = resource.spec.jwt_jwks_secret_ref
    return (ref.name, ref.key) if ref is not None else None


def mounted_secret_refs(resource: AgentOSResource) -> list[SecretRef]:
    """Every (Secret, key) the pods mount as a file: it must exist, but render never reads its value."""
    ref = jwks_ref(resource)
    return [ref] if ref is not None else []


def jwks_volumes(resource: AgentOSResource) -> list[dict[str, Any]]:
    """The read-only Secret volume projecting only the JWKS key, as ``jwks.json``."""
    ref = jwks_ref(resource)
    if ref is None:
        return []
    name, key = ref
    projected = {"secretName": name, "items": [{"key": key, "path": JWKS_FILE_NAME}], "defaultMode": JWKS_FILE_MODE}
    return [{"name": JWKS_VOLUME, "secret": projected}]


def jwks_mounts(resource: AgentOSResource) -> list[dict[str, Any]]:
    """The runtime container's read-only mount of the whole volume (a ``subPath`` would never be refreshed)."""
    if jwks_ref(resource) is None:
        return []
    return [{"name": JWKS_VOLUME, "mountPath": JWKS_DIR, "readOnly": True}]


def jwks_env(resource: AgentOSResource) -> list[dict[str, Any]]:
    """``JWT_JWKS_FILE``: where the runtime finds the file (a path, no key material)."""
    if jwks_ref(resource) is None:
        return []
    return [{"name": JWKS_FILE_ENV, "value": f"{JWKS_DIR}/{JWKS_FILE_NAME}"}]
