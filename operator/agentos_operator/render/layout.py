"""Where everything lives: child object names, labels, the pod's port and mount paths.

Every name a child object gets is derived here from the resource name, so render, the
reconciler and the status all agree on them.
"""

from __future__ import annotations

from typing import Any

from agentos_operator import GROUP, KIND, VERSION

# The runtime's HTTP port: AgentOS's own default, kept so Agno's docs and clients apply as is.
PORT = 7777
PORT_NAME = "http"
CONFIG_DIR = "/etc/agentos"
CONFIG_KEY = "config.yaml"
DATA_DIR = "/data"
CONFIG_HASH_ANNOTATION = f"{GROUP}/config-hash"
ENV_SECRET_SUFFIX = "-env"
SECURITY_KEY_ENV = "OS_SECURITY_KEY"
DATA_DIR_ENV = "AGENTOS_DATA_DIR"


def config_map_name(name: str) -> str:
    return f"{name}-config"


def env_secret_name(name: str) -> str:
    return f"{name}{ENV_SECRET_SUFFIX}"


def data_claim_name(name: str) -> str:
    return f"{name}-data"


def generated_security_key_name(name: str) -> str:
    """The Secret the operator creates once when the spec names no security key."""
    return f"{name}-security-key"


def selector_labels(name: str) -> dict[str, str]:
    """The labels selecting the runtime pods; stable for the resource's lifetime (selectors are immutable)."""
    return {
        "app.kubernetes.io/component": "runtime",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/name": "agentos",
    }


def label_selector(name: str) -> str:
    """``selector_labels`` as a label-selector string (``status.selector``, for the scale subresource)."""
    return ",".join(f"{key}={value}" for key, value in sorted(selector_labels(name).items()))


def labels(name: str) -> dict[str, str]:
    """The labels of every child object."""
    return {
        **selector_labels(name),
        "app.kubernetes.io/managed-by": "agentos-operator",
        "app.kubernetes.io/part-of": "kube-agentos",
    }


def object_metadata(name: str, namespace: str, *, owner_name: str, owner_uid: str | None) -> dict[str, Any]:
    """A child's metadata: name, namespace, labels, and the owner reference once the owner's uid is known."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels(owner_name)}
    if owner_uid is not None:
        metadata["ownerReferences"] = [
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": KIND,
                "name": owner_name,
                "uid": owner_uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    return metadata
