"""The ``<name>-data`` PersistentVolumeClaim holding embedded SQLite files across pod restarts."""

from __future__ import annotations

from typing import Any

from agentos_operator.quantities import canonical_resource_quantity
from agentos_operator.render import layout
from agentos_operator.resources import AgentOSResource


def render_data_claim(resource: AgentOSResource) -> dict[str, Any] | None:
    """The claim when any data lives in SQLite (declared, or the default when no database is); else None."""
    if not resource.spec.uses_sqlite:
        return None
    persistence = resource.spec.persistence
    claim_spec: dict[str, Any] = {
        # One pod writes SQLite at a time (the spec allows one replica with SQLite).
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": canonical_resource_quantity(persistence.size)}},
    }
    if persistence.storage_class_name is not None:
        claim_spec["storageClassName"] = persistence.storage_class_name
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": layout.object_metadata(
            layout.data_claim_name(resource.name),
            resource.namespace,
            owner_name=resource.name,
            owner_uid=resource.uid,
        ),
        "spec": claim_spec,
    }
