"""What the API server stores of each rendered manifest holds that manifest: no resync re-applies it.

The server drops empty values (Go's ``omitempty``) and rewrites quantities in canonical form;
``stored`` does both, offline, so drift can be checked against every example without a cluster.
"""

from __future__ import annotations

import copy
from typing import Any

from agentos_operator import drift, render
from agentos_operator.quantities import canonical_quantity, canonical_resource_quantity
from agentos_operator.resources import parse_resource

from tests.operator.offline.inputs import FIXED_UID, example_secret_values, load_example

SETTINGS = render.RenderSettings(default_image="ghcr.io/kube-agentos/runtime:0.1.0")

# Pod fields the user writes with empty values and non-canonical quantities, as a spec may.
EMPTY_FORMS: dict[str, Any] = {
    "env": [
        {"name": "EMPTY", "value": ""},
        {"name": "MEMORY", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1024Ki"}}},
        {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": 1}}},
    ],
    "envFrom": [{"configMapRef": {"name": "extra"}, "prefix": ""}],
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "", "effect": ""}],
    "nodeSelector": {},
    "podAnnotations": {},
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "Exists", "values": []}]}]
            }
        }
    },
    "resources": {"requests": {"cpu": "1000m", "memory": "0.5Gi"}, "limits": {"memory": "1.5Gi"}},
}


def rendered(name: str, **spec: Any) -> list[dict[str, Any]]:
    body = load_example(name)
    body["metadata"]["uid"] = FIXED_UID
    body["spec"].update(spec)
    return [drift.stamped(m) for m in render.render(parse_resource(body), example_secret_values(), settings=SETTINGS)]


def omitempty(value: Any) -> Any:
    """``value`` without its empty strings, lists and maps, recursively, as Go's ``omitempty`` writes it."""
    if isinstance(value, dict):
        kept = {key: omitempty(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if item not in ("", [], {})}
    if isinstance(value, list):
        return [omitempty(item) for item in value]
    return value


def canonical_quantities(manifest: dict[str, Any]) -> None:
    """Rewrite, in place, the quantities of containers and claims as the server stores them."""
    spec = manifest.get("spec") or {}
    pod = spec.get("template", {}).get("spec", {})
    resource_lists = [spec.get("resources") or {}]
    for container in pod.get("containers", []):
        resource_lists.append(container.get("resources") or {})
        for variable in container.get("env", []):
            selector = variable.get("valueFrom", {}).get("resourceFieldRef")
            if selector and "divisor" in selector:
                selector["divisor"] = canonical_quantity(str(selector["divisor"]))
    for resources in resource_lists:
        for amounts in resources.values():
            for name, amount in amounts.items():
                amounts[name] = canonical_resource_quantity(str(amount))


def server_form(manifest: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``manifest`` as the API server writes them back."""
    body: dict[str, Any] = omitempty(copy.deepcopy(manifest))
    canonical_quantities(body)
    return body


def stored(manifest: dict[str, Any]) -> dict[str, Any]:
    """``manifest`` as the API server would store it, with the metadata and status it adds."""
    body = server_form(manifest)
    body["metadata"].update(uid="a-uid", resourceVersion="42")
    body["status"] = {"observedGeneration": 1}
    return body


def test_the_stored_form_of_every_rendered_manifest_has_not_drifted(example_name: str) -> None:
    for manifest in rendered(example_name):
        assert not drift.drifted(stored(manifest), manifest), f"{manifest['kind']} would be re-applied forever"


def test_the_stored_form_of_empty_values_and_rewritten_quantities_has_not_drifted(example_name: str) -> None:
    manifests = rendered(example_name, **EMPTY_FORMS)
    assert any(server_form(m) != m for m in manifests), "nothing here the server would rewrite"

    for manifest in manifests:
        assert not drift.drifted(stored(manifest), manifest), f"{manifest['kind']} would be re-applied forever"


def test_a_stored_object_that_lost_a_field_of_ours_has_drifted(example_name: str) -> None:
    (deployment,) = [m for m in rendered(example_name, **EMPTY_FORMS) if m["kind"] == "Deployment"]
    live = stored(deployment)
    del live["spec"]["template"]["spec"]["tolerations"][0]["key"]

    assert drift.drifted(live, deployment)
