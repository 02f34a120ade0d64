"""The optional Ingress exposing the runtime's Service at a host name."""

from __future__ import annotations

from typing import Any

from agentos_operator.render import layout
from agentos_operator.resources import AgentOSResource


def render_ingress(resource: AgentOSResource) -> dict[str, Any] | None:
    """One rule: ``host`` and the ``path`` prefix to the Service's port, by name; None when off.

    With ``tls`` the host is served over HTTPS with the named Secret's certificate, which the
    ingress controller reads; the operator only names it.
    """
    ingress = resource.spec.ingress
    if ingress is None or not ingress.enabled or ingress.host is None:
        return None
    backend = {"service": {"name": resource.name, "port": {"name": layout.PORT_NAME}}}
    spec: dict[str, Any] = {
        "rules": [
            {
                "host": ingress.host,
                "http": {"paths": [{"path": ingress.path, "pathType": "Prefix", "backend": backend}]},
            }
        ],
    }
    if ingress.class_name is not None:
        spec["ingressClassName"] = ingress.class_name
    if ingress.tls is not None:
        spec["tls"] = [{"hosts": [ingress.host], "secretName": ingress.tls.secret_name}]
    metadata = layout.object_metadata(
        resource.name, resource.namespace, owner_name=resource.name, owner_uid=resource.uid
    )
    if ingress.annotations:
        metadata["annotations"] = dict(ingress.annotations)
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": metadata, "spec": spec}
