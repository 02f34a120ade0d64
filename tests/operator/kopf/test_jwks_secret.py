"""A JWKS Secret (``spec.jwtJwksSecretRef``) is mounted, not copied: its rotation restarts no pod,
and a missing one is reported until it is created. Through the real operator and the emulator."""

from __future__ import annotations

import base64
from typing import Any

from tests.operator.kopf.conftest import DEPLOYMENTS, SECRETS, Cluster, StartOperator, encoded, eventually
from tests.operator.kopf.test_secret_watch import secret_requests

JWKS = {"authorization": {"userIsolation": True}, "jwtJwksSecretRef": {"name": "idp-keys", "key": "jwks.json"}}


def deployment(cluster: Cluster) -> dict[str, Any]:
    found = cluster.get(DEPLOYMENTS, "demo")
    assert found is not None
    return found


def jwks_reads(cluster: Cluster) -> int:
    return len([r for r in secret_requests(cluster, "get") if r.name == "idp-keys"])


async def test_a_missing_jwks_secret_is_secret_not_found_until_it_is_created(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator()
    await cluster.create_agentos("demo", **JWKS)

    await eventually(lambda: cluster.condition("demo", "ReferencesResolved").get("reason") == "SecretNotFound")
    assert cluster.condition("demo", "ReferencesResolved")["message"] == (
        "Secret 'idp-keys' not found (spec.jwtJwksSecretRef): create it in the resource's namespace"
    )
    assert cluster.get(DEPLOYMENTS, "demo") is None
    await cluster.create_secret("idp-keys", jwks_json='{"keys": []}')

    await eventually(lambda: cluster.condition("demo", "ReferencesResolved").get("reason") == "SecretKeyMissing")
    assert cluster.condition("demo", "ReferencesResolved")["message"] == (
        "Secret 'idp-keys' has no key 'jwks.json' (spec.jwtJwksSecretRef); its keys: 'jwks-json': add it, or name one it has"
    )
    await cluster.api.patch(SECRETS, "ns1", "idp-keys", {"data": {"jwks.json": encoded('{"keys": []}')}})

    await cluster.ready("demo")
    volumes = deployment(cluster)["spec"]["template"]["spec"]["volumes"]
    assert {"name": "jwt-jwks", "secret": {"secretName": "idp-keys", "items": [{"key": "jwks.json", "path": "jwks.json"}], "defaultMode": 0o440}} in volumes  # fmt: skip


async def test_a_rotated_jwks_secret_restarts_no_pod_while_a_rotated_api_key_does(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "idp-keys"}, "type": "Opaque"}
    await cluster.api.create(SECRETS, {**body, "data": {"jwks.json": encoded('{"keys": ["k1"]}')}}, namespace="ns1")
    start_operator()
    await cluster.create_agentos("demo", **JWKS)
    await cluster.ready("demo")
    generation, reads = deployment(cluster)["metadata"]["generation"], jwks_reads(cluster)

    await cluster.api.patch(SECRETS, "ns1", "idp-keys", {"data": {"jwks.json": encoded('{"keys": ["k2"]}')}})
    await eventually(lambda: jwks_reads(cluster) > reads, what="the rotated JWKS Secret checked by a reconcile")
    # Reconciles of one resource run one at a time: this rotation's comes after the JWKS one's.
    await cluster.api.patch(SECRETS, "ns1", "openai", {"data": {"api-key": encoded("sk-test-2")}})

    await eventually(lambda: deployment(cluster)["metadata"]["generation"] > generation, what="the pods rolled")
    await cluster.ready("demo")
    assert deployment(cluster)["metadata"]["generation"] == generation + 1
    env = cluster.get(SECRETS, "demo-env") or {}
    copied = [base64.b64decode(value).decode() for value in env["data"].values()]
    assert not [value for value in copied if "keys" in value] and "k2" not in str(cluster.agentos("demo"))
