"""Pure rules of drift: what counts as a change worth writing, and what does not."""

from __future__ import annotations

import base64

import pytest
from agentos_operator.drift import drifted, foreign_keys, holds, stamped

DESIRED = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "demo", "labels": {"app": "demo"}},
    "spec": {"template": {"spec": {"containers": [{"name": "runtime", "image": "img:1"}]}}},
}


def live(**changes: object) -> dict[str, object]:
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "demo", "labels": {"app": "demo", "extra": "x"}, "uid": "u", "resourceVersion": "9"},
        "spec": {
            "replicas": 4,  # set by an autoscaler
            "template": {
                "spec": {"containers": [{"name": "runtime", "image": "img:1", "imagePullPolicy": "IfNotPresent"}]}
            },
        },
        "status": {"readyReplicas": 4},
    }
    body.update(changes)
    return body


def test_server_defaults_and_other_managers_fields_are_not_drift() -> None:
    assert not drifted(live(), DESIRED)


def test_a_changed_field_of_ours_is_drift() -> None:
    spec = {"template": {"spec": {"containers": [{"name": "runtime", "image": "img:0"}]}}}

    assert drifted(live(spec=spec), DESIRED)


def test_a_missing_list_item_or_object_is_drift() -> None:
    assert drifted(live(spec={"template": {"spec": {"containers": []}}}), DESIRED)
    assert drifted(None, DESIRED)


def test_string_data_is_compared_as_the_base64_data_the_server_stores() -> None:
    desired = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "value"}}
    stored = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"k": base64.b64encode(b"value").decode()},
    }

    assert not drifted(stored, desired)
    assert drifted({**stored, "data": {"k": base64.b64encode(b"other").decode()}}, desired)


def test_a_data_key_no_manifest_sets_is_drift_in_a_secret_or_config_map_alone() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "value"}}
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"config.yaml": "x"}}
    ours = base64.b64encode(b"value").decode()

    assert foreign_keys({**secret, "data": {"k": ours, "EXTRA": "eA=="}}, secret) == {"data": ["EXTRA"]}
    assert drifted({**secret, "data": {"k": ours, "EXTRA": "eA=="}}, secret)
    assert not drifted({**secret, "data": {"k": ours}}, secret)
    extra = {**config, "data": {"config.yaml": "x", "b.yaml": "y", "a.yaml": "z"}, "binaryData": {"bin": "AA=="}}
    assert foreign_keys(extra, config) == {"data": ["a.yaml", "b.yaml"], "binaryData": ["bin"]}
    assert not drifted({**config, "metadata": {"name": "c", "labels": {"other": "x"}}}, config)
    # Elsewhere a map may hold another manager's keys (an annotation, a label, a selector's).
    assert not drifted(live(data={"anything": "x"}), DESIRED)


def test_a_desired_null_means_absent() -> None:
    assert holds({"a": 1}, {"b": None})
    assert not holds({"b": 2}, {"b": None})


def test_a_stamp_changes_with_any_change_to_the_manifest_removals_included() -> None:
    without = {
        **DESIRED,
        "spec": {"template": {"spec": {"containers": DESIRED["spec"]["template"]["spec"]["containers"]}}},
    }
    with_selector = {
        **DESIRED,
        "spec": {"template": {"spec": {**without["spec"]["template"]["spec"], "nodeSelector": {"a": "b"}}}},
    }

    def digest(manifest: dict[str, object]) -> str:
        return str(stamped(manifest)["metadata"]["annotations"]["agentos.dev/applied"])  # type: ignore[index]

    assert digest(without) == digest(dict(without))
    assert digest(without) != digest(with_selector)
    assert stamped(without)["metadata"]["labels"] == {"app": "demo"}
    assert drifted(stamped(with_selector) | {"status": {}}, stamped(without))


def pod(container: dict[str, object], **pod_spec: object) -> dict[str, object]:
    """A Deployment whose pod holds ``container`` (named runtime) and ``pod_spec``."""
    return {
        "kind": "Deployment",
        "metadata": {"name": "demo"},
        "spec": {"template": {"spec": {"containers": [{"name": "runtime", **container}], **pod_spec}}},
    }


def test_an_env_value_of_empty_text_is_held_by_the_absent_value_the_server_stores() -> None:
    desired = pod({"env": [{"name": "EMPTY", "value": ""}]})

    assert not drifted(pod({"env": [{"name": "EMPTY"}]}), desired)
    assert not drifted(pod({"env": [{"name": "EMPTY", "value": ""}]}), desired)
    assert drifted(pod({"env": [{"name": "EMPTY", "value": "set by hand"}]}), desired)


def test_a_toleration_value_of_empty_text_is_held_by_the_absent_value_the_server_stores() -> None:
    wanted = {"key": "dedicated", "operator": "Exists", "value": "", "effect": ""}
    desired = pod({}, tolerations=[wanted])

    assert not drifted(pod({}, tolerations=[{"key": "dedicated", "operator": "Exists"}]), desired)
    assert drifted(pod({}, tolerations=[{"key": "dedicated", "operator": "Exists", "value": "x"}]), desired)


def test_empty_lists_and_maps_are_held_by_absent_fields() -> None:
    desired = pod({"args": [], "resources": {}, "securityContext": {}}, nodeSelector={}, volumes=[])

    assert not drifted(pod({}), desired)
    assert not drifted(pod({"args": [], "resources": {}}, nodeSelector={}), desired)


def test_maps_holding_only_empty_values_inside_lists_are_held_by_what_the_server_leaves() -> None:
    term = {"matchExpressions": [{"key": "zone", "operator": "Exists", "values": []}], "matchFields": []}
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}
    stored_term = {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}
    stored = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [stored_term]}}}
    desired = pod({"envFrom": [{"configMapRef": {"name": "extra"}, "prefix": ""}]}, affinity=affinity)

    assert not drifted(pod({"envFrom": [{"configMapRef": {"name": "extra"}}]}, affinity=stored), desired)
    assert holds(None, {"a": {"b": "", "c": []}, "d": None})
    assert holds({"a": {}}, {"a": {"b": {}}})


def test_empty_values_the_server_keeps_where_none_are_desired_are_no_drift() -> None:
    stored = pod({"args": [], "resources": {}, "env": [{"name": "EMPTY", "value": ""}]}, securityContext={})

    assert not drifted(stored, pod({"env": [{"name": "EMPTY"}]}))


def test_a_removed_field_that_is_not_empty_is_drift() -> None:
    desired = pod({"args": ["serve"], "env": [{"name": "EMPTY", "value": "x"}]}, nodeSelector={"zone": "a"})

    assert drifted(pod({"env": [{"name": "EMPTY", "value": "x"}]}, nodeSelector={"zone": "a"}), desired)
    assert drifted(pod({"args": ["serve"], "env": [{"name": "EMPTY"}]}, nodeSelector={"zone": "a"}), desired)
    assert drifted(pod({"args": ["serve"], "env": [{"name": "EMPTY", "value": "x"}]}), desired)
    assert not holds(None, [{}])  # the server never drops the items of a list


def test_a_list_of_another_length_is_drift_even_when_the_extra_items_are_empty() -> None:
    desired = pod({"args": ["serve", ""]})

    assert drifted(pod({"args": ["serve"]}), desired)
    assert drifted(pod({"args": ["serve", "", ""]}), desired)
    assert drifted(pod({"args": ["serve"]}), pod({"args": []}))


def test_false_and_zero_are_values_an_absent_field_does_not_hold() -> None:
    desired = pod({}, automountServiceAccountToken=False, terminationGracePeriodSeconds=0)

    assert not drifted(pod({}, automountServiceAccountToken=False, terminationGracePeriodSeconds=0), desired)
    assert drifted(pod({}, terminationGracePeriodSeconds=0), desired)
    assert drifted(pod({}, automountServiceAccountToken=False), desired)


def test_a_bool_holds_only_a_bool_and_an_integral_float_holds_its_int() -> None:
    assert not holds(1, True)
    assert not holds(0, False)
    assert not holds(True, 1)
    assert holds(False, False)
    assert holds(2, 2.0)
    assert not holds(2, 2.5)


# (as rendered or written by the user, as the API server stores it)
QUANTITIES = [("1000m", "1"), ("0.5Gi", "512Mi"), ("1024Ki", "1Mi"), ("0.5", "500m"), ("1E3", "1e3"), (1, "1")]


@pytest.mark.parametrize(("written", "stored"), QUANTITIES)
def test_a_request_or_limit_is_compared_in_the_form_the_server_stores(written: object, stored: str) -> None:
    desired = pod({"resources": {"requests": {"cpu": written}, "limits": {"memory": written}}})

    assert not drifted(pod({"resources": {"requests": {"cpu": stored}, "limits": {"memory": stored}}}), desired)


@pytest.mark.parametrize(("written", "stored"), QUANTITIES)
def test_a_divisor_and_a_size_limit_are_compared_in_the_form_the_server_stores(written: object, stored: str) -> None:
    def with_quantity(amount: object) -> dict[str, object]:
        variable = {
            "name": "MEMORY",
            "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": amount}},
        }
        return pod({"env": [variable]}, volumes=[{"name": "tmp", "emptyDir": {"sizeLimit": amount}}])

    assert not drifted(with_quantity(stored), with_quantity(written))


def test_a_claim_size_is_compared_in_the_form_the_server_stores() -> None:
    def claim(size: str) -> dict[str, object]:
        return {"kind": "PersistentVolumeClaim", "spec": {"resources": {"requests": {"storage": size}}}}

    assert not drifted(claim("512Mi"), claim("0.5Gi"))
    assert drifted(claim("1Gi"), claim("0.5Gi"))


def test_a_changed_quantity_is_drift() -> None:
    desired = pod({"resources": {"requests": {"cpu": "1000m"}}})

    assert drifted(pod({"resources": {"requests": {"cpu": "2"}}}), desired)
    assert drifted(pod({"resources": {"requests": {"memory": "1"}}}), desired)


def test_text_is_read_as_a_quantity_only_where_the_server_reads_one() -> None:
    desired = pod({"env": [{"name": "CPU", "value": "1000m"}]}, nodeSelector={"size": "0.5Gi"})

    assert drifted(pod({"env": [{"name": "CPU", "value": "1"}]}, nodeSelector={"size": "0.5Gi"}), desired)
    assert drifted(pod({"env": [{"name": "CPU", "value": "1000m"}]}, nodeSelector={"size": "512Mi"}), desired)


def test_text_that_is_no_quantity_is_compared_as_written() -> None:
    desired = pod({"resources": {"limits": {"memory": "lots"}}})

    assert not drifted(pod({"resources": {"limits": {"memory": "lots"}}}), desired)
    assert drifted(pod({"resources": {"limits": {"memory": "1Gi"}}}), desired)


def test_named_items_another_manager_added_are_not_drift_wherever_they_sit() -> None:
    ours = {"name": "LOG_LEVEL", "value": "info"}
    desired = pod({"env": [ours]})
    set_env = {"name": "DEBUG_ME", "value": "1"}  # kubectl set env, or a webhook

    assert not drifted(pod({"env": [ours, set_env]}), desired)
    assert not drifted(pod({"env": [set_env, ours]}), desired)
    sidecar = {"name": "istio-proxy", "image": "proxy:1"}
    assert holds([sidecar, {"name": "runtime", "image": "img:1"}], [{"name": "runtime", "image": "img:1"}])


def test_a_named_item_of_ours_that_is_missing_or_changed_is_still_drift() -> None:
    desired = pod({"env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "PORT", "value": "7777"}]})

    assert drifted(pod({"env": [{"name": "LOG_LEVEL", "value": "info"}]}), desired)
    assert drifted(pod({"env": [{"name": "LOG_LEVEL", "value": "debug"}, {"name": "PORT", "value": "7777"}]}), desired)


def test_unnamed_items_are_still_matched_by_position_and_number() -> None:
    assert not holds([{"key": "a"}, {"key": "b"}], [{"key": "a"}])
    assert not holds([{"name": "a"}, {"name": "a"}], [{"name": "a"}])  # a name twice: not a keyed list
