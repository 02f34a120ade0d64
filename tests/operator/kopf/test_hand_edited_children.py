"""A child of ours re-keyed by hand is taken back once per refusal, never in a loop.

The emulator merges no list by key and keeps ``managedFields`` as written, so the API
server's refusal is injected: what a real one does is tests/cluster/test_hand_edited_children.py.
"""

from __future__ import annotations

from tests.operator.kopf.conftest import SERVICES, Cluster, StartOperator, eventually

MANAGER = "agentos-operator"
KEY_8000 = 'k:{"port":8000,"protocol":"TCP"}'
DUPLICATE = 'Service "demo" is invalid: spec.ports[1].name: Duplicate value: "http"'


async def test_a_child_still_refused_once_taken_back_is_rejected_saying_to_delete_it_and_not_written_again(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    operator = start_operator()
    await cluster.create_agentos("demo")
    await cluster.ready("demo")
    cluster.api.fail_next(422, verb="patch", plural="services", dry_run=True, times=10_000, message=DUPLICATE)
    mark = cluster.api.mark()

    # What kubectl patch of the port leaves: the item is kubectl-patch's, not the operator's apply's.
    edited = {
        "metadata": {
            "managedFields": [
                {"manager": MANAGER, "operation": "Apply", "fieldsV1": {"f:spec": {"f:type": {}}}},
                {
                    "manager": "kubectl-patch",
                    "operation": "Update",
                    "fieldsV1": {"f:spec": {"f:ports": {KEY_8000: {}}}},
                },
            ]
        },
        "spec": {"ports": [{"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}]},
    }
    await cluster.api.patch(SERVICES, "ns1", "demo", edited)

    blocked = operator.reconciles("blocked")
    await eventually(lambda: operator.reconciles("blocked") >= blocked + 3, what="three refused reconciles")

    service = cluster.get(SERVICES, "demo")
    assert service is not None
    assert service["metadata"]["managedFields"] == [
        {"manager": MANAGER, "operation": "Apply", "fieldsV1": {"f:spec": {"f:type": {}, "f:ports": {KEY_8000: {}}}}}
    ]
    ownership_patches = [w for w in cluster.api.writes_since(mark) if w.url.path.endswith("/services/demo")]
    assert len(ownership_patches) == 1, "one take-back: none on the retries"
    told = [e["message"] for e in cluster.events_about("demo") if e["reason"] == "ChildRejected"]
    assert told[0].startswith(
        "the API server refuses Service 'demo' even with what another client changed in it taken back"
        " (spec.ports[port=8000,protocol=TCP])"
    ), told
    message = cluster.condition("demo", "Ready")["message"]
    assert "or delete Service 'demo' to have it made again" in message, message
    # The Deployment as it was still serves: said after the cause.
    assert message.endswith("; until then no child is written; the previous pods serve meanwhile"), message
    assert "Restored" not in {e["reason"] for e in cluster.events_about("demo")}
