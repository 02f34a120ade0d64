"""Pure rules of taking back a child's list items another client re-keyed by hand (``restoring``).

The ``managedFields`` below are as a real API server (1.37.2) wrote them after the operator's
apply and a ``kubectl patch`` of the Service's port or the container's port."""

from __future__ import annotations

import copy
from typing import Any

from agentos_operator.restoring import readable, take_back

MANAGER = "agentos-operator"
KEY_8000 = 'k:{"port":8000,"protocol":"TCP"}'
PORT_FIELDS = {".": {}, "f:name": {}, "f:nodePort": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}}


def service(ports: list[dict[str, Any]], managed: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "demo", "namespace": "team-a", "managedFields": managed},
        "spec": {"type": "NodePort", "clusterIP": "10.96.0.7", "selector": {"app": "x"}, "ports": ports},
    }


def entry(manager: str, operation: str, fields: dict[str, Any], **extra: str) -> dict[str, Any]:
    return {"manager": manager, "operation": operation, "fieldsType": "FieldsV1", "fieldsV1": fields, **extra}


OURS = entry(MANAGER, "Apply", {"f:spec": {"f:selector": {}, "f:type": {}}})
PATCHED = entry("kubectl-patch", "Update", {"f:spec": {"f:ports": {KEY_8000: PORT_FIELDS}}})
HAND_EDITED = service(
    [{"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP", "nodePort": 30985}],
    [OURS, PATCHED],
)
DESIRED = service([{"name": "http", "port": 7777, "targetPort": "http", "protocol": "TCP"}], [])


def test_a_service_port_re_keyed_by_hand_is_made_the_operators_and_its_other_owner_entry_goes() -> None:
    plan = take_back(HAND_EDITED, DESIRED, MANAGER)

    assert plan is not None
    assert plan.taken == ("spec.ports[port=8000,protocol=TCP]",)
    assert plan.managed_fields == [
        entry(MANAGER, "Apply", {"f:spec": {"f:selector": {}, "f:type": {}, "f:ports": {KEY_8000: PORT_FIELDS}}})
    ]
    assert HAND_EDITED["metadata"]["managedFields"] == [OURS, PATCHED], "the live object is not changed"


def test_the_other_managers_other_fields_stay_theirs() -> None:
    other = copy.deepcopy(PATCHED)
    other["fieldsV1"]["f:metadata"] = {"f:labels": {"f:team": {}}}
    other["fieldsV1"]["f:spec"]["f:sessionAffinity"] = {}
    live = service(HAND_EDITED["spec"]["ports"], [OURS, other])

    plan = take_back(live, DESIRED, MANAGER)

    assert plan is not None
    kept = [e for e in plan.managed_fields if e["manager"] == "kubectl-patch"]
    assert kept == [
        entry(
            "kubectl-patch", "Update", {"f:metadata": {"f:labels": {"f:team": {}}}, "f:spec": {"f:sessionAffinity": {}}}
        )
    ]


def test_a_container_port_re_keyed_by_hand_inside_the_operators_container_is_found() -> None:
    container_key = 'k:{"name":"agentos"}'
    port_key = 'k:{"containerPort":8000,"protocol":"TCP"}'
    ours = entry(
        MANAGER,
        "Apply",
        {
            "f:spec": {
                "f:template": {"f:spec": {"f:containers": {container_key: {".": {}, "f:image": {}, "f:name": {}}}}}
            }
        },
    )
    status = entry("kube-controller-manager", "Update", {"f:status": {"f:replicas": {}}}, subresource="status")
    port_fields = {".": {}, "f:containerPort": {}, "f:name": {}, "f:protocol": {}}
    patched = entry(
        "kubectl-patch",
        "Update",
        {"f:spec": {"f:template": {"f:spec": {"f:containers": {container_key: {"f:ports": {port_key: port_fields}}}}}}},
    )

    def deployment(port: int, managed: list[dict[str, Any]]) -> dict[str, Any]:
        container = {
            "name": "agentos",
            "image": "x",
            "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        }
        return {"metadata": {"managedFields": managed}, "spec": {"template": {"spec": {"containers": [container]}}}}

    plan = take_back(deployment(8000, [ours, status, patched]), deployment(8080, []), MANAGER)

    assert plan is not None
    assert plan.taken == ("spec.template.spec.containers[name=agentos].ports[containerPort=8000,protocol=TCP]",)
    taken = plan.managed_fields[0]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"][container_key]
    assert taken == {".": {}, "f:image": {}, "f:name": {}, "f:ports": {port_key: port_fields}}
    assert plan.managed_fields[1:] == [status], "the status subresource's entry is left as it is"


def test_an_item_another_manager_added_under_a_name_of_its_own_is_left_to_it() -> None:
    extra_key = 'k:{"port":9000,"protocol":"TCP"}'
    other = entry("kubectl-patch", "Update", {"f:spec": {"f:ports": {extra_key: PORT_FIELDS}}})
    ports = [
        {"name": "http", "port": 7777, "targetPort": "http", "protocol": "TCP"},
        {"name": "debug", "port": 9000, "targetPort": 9000, "protocol": "TCP"},
    ]
    assert take_back(service(ports, [OURS, other]), DESIRED, MANAGER) is None


def test_an_item_the_spec_itself_moved_to_the_edited_key_is_no_take_back() -> None:
    # The spec now asks for port 8000 too: the edited item is the rendered one, shared.
    desired = service([{"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}], [])
    assert take_back(HAND_EDITED, desired, MANAGER) is None


def test_nothing_is_taken_back_for_a_manager_that_never_applied_the_object() -> None:
    assert take_back(HAND_EDITED, DESIRED, "someone-else") is None
    assert take_back(service(HAND_EDITED["spec"]["ports"], []), DESIRED, MANAGER) is None


def test_an_unreadable_key_or_entry_is_skipped_not_a_crash() -> None:
    odd = entry("kubectl-patch", "Update", {"f:spec": {"f:ports": {"k:not json": {}, "k:[1]": {}, "v:1": {}}}})
    assert take_back(service(HAND_EDITED["spec"]["ports"], [OURS, odd, "junk"]), DESIRED, MANAGER) is None  # type: ignore[list-item]


def test_a_bool_key_value_is_not_a_number() -> None:
    key = 'k:{"port":1,"protocol":"TCP"}'
    other = entry("kubectl-patch", "Update", {"f:spec": {"f:ports": {key: PORT_FIELDS}}})
    live = service([{"name": "http", "port": True, "protocol": "TCP"}], [OURS, other])
    assert take_back(live, DESIRED, MANAGER) is None, "no live item has port 1 (True is no port number)"


def test_readable_paths() -> None:
    assert readable(("f:spec", "f:ports", KEY_8000)) == "spec.ports[port=8000,protocol=TCP]"
    assert readable(("f:spec", 'k:{"name":"a"}', "f:x")) == "spec[name=a].x"


def pdb(spec: dict[str, Any], managed: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "demo", "namespace": "team-a", "managedFields": managed},
        "spec": spec,
    }


def test_a_min_available_set_by_hand_beside_the_operators_max_unavailable_is_taken_back() -> None:
    ours = entry(MANAGER, "Apply", {"f:spec": {"f:maxUnavailable": {}, "f:selector": {}}})
    patched = entry("kubectl-patch", "Update", {"f:spec": {"f:minAvailable": {}}})
    live = pdb({"minAvailable": 1, "selector": {}}, [ours, patched])

    plan = take_back(live, pdb({"maxUnavailable": 1, "selector": {}}, []), MANAGER)

    assert plan is not None and plan.taken == ("spec.minAvailable",)
    assert plan.managed_fields == [
        entry(MANAGER, "Apply", {"f:spec": {"f:maxUnavailable": {}, "f:selector": {}, "f:minAvailable": {}}})
    ]


def test_a_rolling_update_set_by_hand_beside_the_operators_recreate_is_taken_back_and_not_under_rolling_updates() -> (
    None
):
    rolling = {"f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}}, "f:type": {}}
    ours = entry(MANAGER, "Apply", {"f:spec": {"f:replicas": {}, "f:strategy": {"f:type": {}}}})
    patched = entry("kubectl-patch", "Update", {"f:spec": {"f:strategy": rolling}})
    live = {
        "kind": "Deployment",
        "metadata": {"managedFields": [ours, patched]},
        "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}},
    }
    recreate = {"kind": "Deployment", "spec": {"replicas": 1, "strategy": {"type": "Recreate"}}}

    plan = take_back(live, recreate, MANAGER)

    assert plan is not None and plan.taken == ("spec.strategy.rollingUpdate",)
    kept = [e for e in plan.managed_fields if e["manager"] == "kubectl-patch"]
    assert kept == [entry("kubectl-patch", "Update", {"f:spec": {"f:strategy": {"f:type": {}}}})]
    rolling_update = {"kind": "Deployment", "spec": {"replicas": 1, "strategy": {"type": "RollingUpdate"}}}
    assert take_back(live, rolling_update, MANAGER) is None


def test_replicas_the_operator_applied_are_handed_over_once_autoscaling_drops_them() -> None:
    from agentos_operator.restoring import replicas_to_hand_over

    ours = entry(MANAGER, "Apply", {"f:spec": {"f:replicas": {}, "f:template": {}}})
    live = {"kind": "Deployment", "metadata": {"managedFields": [ours]}, "spec": {"replicas": 3}}
    autoscaled = {"kind": "Deployment", "spec": {"template": {}}}

    assert replicas_to_hand_over(live, autoscaled, MANAGER) == 3
    assert replicas_to_hand_over(live, {"kind": "Deployment", "spec": {"replicas": 2}}, MANAGER) is None
    scaled_by_hpa = dict(live, metadata={"managedFields": [entry(MANAGER, "Apply", {"f:spec": {"f:template": {}}})]})
    assert replicas_to_hand_over(scaled_by_hpa, autoscaled, MANAGER) is None, "the autoscaler holds them already"
