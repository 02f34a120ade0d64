"""Pure rules of drift: what counts as a change worth writing, and what does not."""

from __future__ import annotations

import base64

from agentos_operator.drift import drifted, holds, stamped

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
