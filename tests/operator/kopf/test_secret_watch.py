"""The Secret watch asks for metadata only: no Secret's data reaches the operator but the ones it reads.

Through the real operator and the emulator, which answers the metadata Accept header as the
API server does and records every answer about Secrets as sent. The resync is a minute away
in every test, so whatever happens within seconds was woken by the watch.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp
import pytest
from kmock._internal import rendering

from tests.operator.kopf.conftest import DEPLOYMENTS, SECRETS, Cluster, StartOperator, encoded, eventually
from tests.support.emulator import AGENTOS, VERBS, accept_header

METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"


def verb(request: rendering.Request) -> str | None:
    return VERBS.get(request.action.name) if request.action is not None else None


def secret_requests(cluster: Cluster, wanted: str) -> list[rendering.Request]:
    """The requests of verb ``wanted`` (list, watch, get...) about Secrets, in any namespace."""
    return [
        r
        for r in cluster.api.requests_since(0)
        if r.resource is not None and r.resource.plural == "secrets" and verb(r) == wanted
    ]


def secret_paths(cluster: Cluster) -> set[str]:
    return {r.url.path for r in secret_requests(cluster, "list") + secret_requests(cluster, "watch")}


def listed_and_watched(answers: list[tuple[rendering.Request, bytes]]) -> list[dict[str, Any]]:
    """Every object in ``answers`` to a list or a watch: list items, and watch events' objects."""
    objects: list[dict[str, Any]] = []
    for request, body in answers:
        if verb(request) == "list":
            objects += json.loads(body)["items"]
        elif verb(request) == "watch":
            objects.append(json.loads(body)["object"])
    return objects


def config_hash(cluster: Cluster, name: str, namespace: str = "ns1") -> str:
    deployment = cluster.get(DEPLOYMENTS, name, namespace) or {}
    return str(deployment["spec"]["template"]["metadata"]["annotations"]["agentos.dev/config-hash"])


async def test_no_secret_data_crosses_the_wire_but_that_of_the_secrets_the_operator_reads(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    await cluster.create_secret("bystander", "ns1", token="bystander-token-1")
    await cluster.create_secret("bystander", "ns2", token="bystander-token-2")
    start_operator()
    await cluster.create_agentos("demo")
    await cluster.ready("demo")

    rotated = await cluster.api.patch(SECRETS, "ns2", "bystander", {"data": {"token": encoded("bystander-token-3")}})

    def rotation_sent() -> bool:
        objects = listed_and_watched(cluster.api.secret_answers())
        return rotated["metadata"]["resourceVersion"] in [o["metadata"]["resourceVersion"] for o in objects]

    await eventually(rotation_sent, what="the bystander's rotation sent to the watch")
    wire = b"".join(body for _, body in cluster.api.secret_answers())
    for value in ("bystander-token-1", "bystander-token-2", "bystander-token-3"):
        assert encoded(value).encode() not in wire
    objects = listed_and_watched(cluster.api.secret_answers())
    assert {o["metadata"]["name"] for o in objects} >= {"openai", "bystander", "demo-env"}
    assert {(o["apiVersion"], o["kind"], *sorted(o)) for o in objects} == {
        ("meta.k8s.io/v1", "PartialObjectMetadata", "apiVersion", "kind", "metadata")
    }
    assert {r.name for r in secret_requests(cluster, "get")} <= {"openai", "demo-env", "demo-security-key"}


async def test_the_secret_watch_asks_for_metadata_in_its_lists_and_its_watches(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    start_operator()
    await cluster.watched("secrets")
    await cluster.watched("agentosconfigs")

    lists, watches = secret_requests(cluster, "list"), secret_requests(cluster, "watch")

    assert [(r.url.path, accept_header(r)) for r in lists] == [("/api/v1/secrets", METADATA_LIST)]
    assert [(r.url.path, accept_header(r)) for r in watches] == [("/api/v1/secrets", METADATA)]
    assert watches[0].params["allowWatchBookmarks"] == "true"
    assert 300 <= int(watches[0].params["timeoutSeconds"]) < 600


async def test_a_rotated_secret_rolls_the_pods_of_every_resource_reading_it(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    await cluster.create_secret("other", api_key="sk-other")
    start_operator()
    for name, secret in (("first", "openai"), ("second", "openai"), ("unrelated", "other")):
        await cluster.create_agentos(name, secret=secret)
    before = {name: (await cluster.ready(name))["status"]["configHash"] for name in ("first", "second", "unrelated")}

    await cluster.api.patch(SECRETS, "ns1", "openai", {"data": {"api-key": encoded("sk-test-2")}})

    for name in ("first", "second"):

        def rolled(name: str = name) -> bool:
            return bool(config_hash(cluster, name) != before[name])

        await eventually(rolled, what=f"{name}'s pods rolled")
        assert (await cluster.ready(name))["metadata"]["generation"] == 1  # the resource was not edited
    assert config_hash(cluster, "unrelated") == before["unrelated"]


async def test_a_secret_rotated_with_an_edit_of_the_resource_told_first_rolls_the_pods_once(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    """One GitOps sync changes the model key and the resource: the resource's event comes first
    (the Secrets' watch is held here), and its reconcile reads the key as it is now."""
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator()
    await cluster.create_agentos("demo")
    before = (await cluster.ready("demo"))["status"]["configHash"]
    held = [cluster.api.stall_next(verb=v, plural="secrets", times=1_000) for v in ("list", "watch")]
    await cluster.api.drop_watches()
    await eventually(lambda: any(fault.fired for fault in held), what="the Secrets' watch held")
    mark = cluster.api.mark()

    await cluster.api.patch(SECRETS, "ns1", "openai", {"data": {"api-key": encoded("sk-test-2")}})
    edited = [{"id": "assistant", "model": "gpt-4o-mini", "instructions": ["Edited with the key."]}]
    await cluster.api.patch(AGENTOS, "ns1", "demo", {"spec": {"agents": edited}})

    ready = await cluster.ready("demo")
    assert ready["status"]["configHash"] != before
    env = cluster.get(SECRETS, "demo-env")
    assert env is not None and base64.b64decode(env["data"]["OPENAI_API_KEY"]) == b"sk-test-2"
    deployment_writes = [r for r in cluster.api.writes_since(mark) if r.url.path.endswith("/deployments/demo")]
    assert len(deployment_writes) == 1  # one rollout, with both changes


async def test_a_deleted_secret_a_resource_reads_makes_it_secret_not_found(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    """The pods keep serving: nothing is written while the Secret is missing. Ready says so, and
    stops saying so when they no longer serve, without a second Warning for the same cause."""
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator()
    await cluster.create_agentos("demo")
    await cluster.ready("demo")

    await cluster.api.delete(SECRETS, "ns1", "openai")

    await eventually(lambda: cluster.condition("demo", "ReferencesResolved").get("status") == "False")
    cause = "Secret 'openai' not found (spec.models[0].apiKeySecretRef): create it in the resource's namespace"
    resolved = cluster.condition("demo", "ReferencesResolved")
    assert (resolved["reason"], resolved["message"]) == ("SecretNotFound", cause)
    assert cluster.condition("demo", "Ready")["message"] == f"{cause}; the previous pods serve meanwhile"

    def warnings() -> list[str]:
        return [e["message"] for e in cluster.events_about("demo") if e["type"] == "Warning"]

    assert await eventually(warnings, what="the Warning") == [f"{cause}; the previous pods serve meanwhile"]

    # Its pods gone (evicted, say): the status says so; the cause is the same, told once.
    await cluster.api.patch(DEPLOYMENTS, "ns1", "demo", {"status": {"availableReplicas": 0}}, subresource="status")

    await eventually(lambda: cluster.condition("demo", "Ready").get("message") == cause, what="no longer serving")
    await cluster.create_secret("openai", api_key="sk-test-1")
    # Reconciles of one resource are one at a time: the one before had posted its events.
    await eventually(lambda: cluster.condition("demo", "ReferencesResolved").get("status") == "True")
    assert warnings() == [f"{cause}; the previous pods serve meanwhile"]


async def test_an_empty_model_key_is_refused_until_it_is_set(cluster: Cluster, start_operator: StartOperator) -> None:
    """`kubectl create secret generic openai --from-literal=api-key="$OPENAI_API_KEY"` with the
    variable unset: the key is there, empty. The runtime would start without a credential."""
    await cluster.create_secret("openai", api_key="")
    start_operator()
    await cluster.create_agentos("demo")

    await eventually(lambda: cluster.condition("demo", "Ready").get("reason") == "SecretKeyMissing", what="refused")
    said = "key 'api-key' of Secret 'openai' (spec.models[0].apiKeySecretRef) is empty: set it"
    assert cluster.condition("demo", "ReferencesResolved")["message"] == said
    assert cluster.get(DEPLOYMENTS, "demo") is None and cluster.get(SECRETS, "demo-env") is None

    await cluster.api.patch(SECRETS, "ns1", "openai", {"data": {"api-key": encoded("sk-test-1")}})

    await cluster.ready("demo")


@pytest.mark.parametrize(
    ("value", "why"),
    [(b"\xffsk", "is not UTF-8 text (byte 1 of it)"), (b"sk\x00", "holds a NUL character (at character 3)")],
)
async def test_a_model_key_whose_value_is_no_text_is_secret_value_invalid_not_missing(
    cluster: Cluster, start_operator: StartOperator, value: bytes, why: str
) -> None:
    """The key is there: its value (binary, or with a NUL) is what no environment variable can carry."""
    await cluster.create_secret("openai", api_key="sk-test-1")
    await cluster.api.patch(SECRETS, "ns1", "openai", {"data": {"api-key": base64.b64encode(value).decode()}})
    start_operator()
    await cluster.create_agentos("demo")

    await eventually(lambda: cluster.condition("demo", "Ready").get("reason") == "SecretValueInvalid", what="refused")
    resolved = cluster.condition("demo", "ReferencesResolved")
    assert (resolved["status"], resolved["reason"]) == ("False", "SecretValueInvalid")
    assert resolved["message"] == (
        f"key 'api-key' of Secret 'openai' (spec.models[0].apiKeySecretRef) {why}: "
        "store the value as text (it becomes an environment variable)"
    )
    assert cluster.get(DEPLOYMENTS, "demo") is None and cluster.get(SECRETS, "demo-env") is None

    await cluster.api.patch(SECRETS, "ns1", "openai", {"data": {"api-key": encoded("sk-test-1")}})

    await cluster.ready("demo")


async def test_a_dropped_secret_watch_resumes_from_the_last_version_it_got_and_still_sees_rotations(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator()
    await cluster.create_agentos("demo")
    before = await cluster.ready("demo")
    lists, watches = len(secret_requests(cluster, "list")), len(secret_requests(cluster, "watch"))
    sent = listed_and_watched(cluster.api.secret_answers())

    await cluster.api.drop_watches()
    await eventually(lambda: len(secret_requests(cluster, "watch")) > watches, what="the watch reopened")
    await cluster.api.patch(SECRETS, "ns1", "openai", {"data": {"api-key": encoded("sk-test-2")}})

    await eventually(lambda: config_hash(cluster, "demo") != before["status"]["configHash"], what="the pods rolled")
    resumed = secret_requests(cluster, "watch")[watches]
    assert resumed.params["resourceVersion"] == sent[-1]["metadata"]["resourceVersion"]
    assert len(secret_requests(cluster, "list")) == lists  # resumed, not listed again


async def test_a_secret_watch_too_old_to_resume_lists_again_and_sees_what_it_missed(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator()
    await cluster.create_agentos("demo")
    before = await cluster.ready("demo")
    lists = len(secret_requests(cluster, "list"))
    # The watch is kept away while the Secret rotates and its history is compacted.
    refused = cluster.api.fail_next(503, verb="watch", plural="secrets", times=10_000)
    await cluster.api.drop_watches()
    await eventually(lambda: refused.fired, what="the watch refused")
    await cluster.api.patch(SECRETS, "ns1", "openai", {"data": {"api-key": encoded("sk-test-2")}})
    cluster.api.expire_history(SECRETS)
    cluster.api.clear_faults()

    await eventually(lambda: config_hash(cluster, "demo") != before["status"]["configHash"], what="the pods rolled")
    assert len(secret_requests(cluster, "list")) == lists + 1
    expired = [json.loads(body) for _, body in cluster.api.secret_answers() if b'"ERROR"' in body]
    assert [(e["object"]["code"], e["object"]["reason"]) for e in expired] == [(410, "Expired")]


async def test_a_namespaced_operator_watches_secrets_only_in_its_namespaces(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    start_operator(namespaces=("ns1",))
    await cluster.watched("secrets")
    await cluster.watched("agentosconfigs")

    assert secret_paths(cluster) == {"/api/v1/namespaces/ns1/secrets"}


async def test_a_glob_watches_the_secrets_of_each_matching_namespace_as_it_appears(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    start_operator(namespaces=("team-*",))
    await cluster.api.create("v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
    await cluster.create_secret("openai", "team-a", api_key="sk-test-1")
    await cluster.create_agentos("demo", "team-a")
    before = await cluster.ready("demo", "team-a")

    await cluster.api.patch(SECRETS, "team-a", "openai", {"data": {"api-key": encoded("sk-test-2")}})

    await eventually(lambda: config_hash(cluster, "demo", "team-a") != before["status"]["configHash"])
    assert secret_paths(cluster) == {"/api/v1/namespaces/team-a/secrets"}


@pytest.mark.parametrize(
    ("path", "accept"),
    [
        ("/api/v1/namespaces/ns1/secrets", "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"),
        ("/api/v1/namespaces/ns1/secrets/openai", "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"),
    ],
)
async def test_the_emulator_refuses_a_list_asked_as_one_object_and_an_object_asked_as_a_list(
    cluster: Cluster, path: str, accept: str
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    async with (
        aiohttp.ClientSession(str(cluster.api.url)) as http,
        http.get(path, headers={"Accept": accept}) as answer,
    ):
        assert (answer.status, (await answer.json())["reason"]) == (406, "NotAcceptable")


async def test_a_resource_waiting_for_a_secret_writes_nothing_not_even_its_security_key_until_it_comes(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    start_operator()
    await cluster.create_agentos("demo")

    await eventually(lambda: cluster.condition("demo", "ReferencesResolved").get("reason") == "SecretNotFound")
    assert cluster.get(SECRETS, "demo-security-key", "ns1") is None
    await cluster.create_secret("openai", api_key="sk-test-1")

    await cluster.ready("demo")
    key = cluster.get(SECRETS, "demo-security-key", "ns1")
    assert key is not None and key["metadata"]["ownerReferences"][0]["name"] == "demo"
    assert not [e for e in cluster.events_about("demo") if e["reason"] == "SecurityKeyRegenerated"], "its first key"


async def test_a_generated_key_deleted_under_a_serving_resource_is_made_anew_and_said_in_a_warning(
    cluster: Cluster, start_operator: StartOperator
) -> None:
    await cluster.create_secret("openai", api_key="sk-test-1")
    start_operator()
    await cluster.create_agentos("demo")
    await cluster.ready("demo")
    first = cluster.get(SECRETS, "demo-security-key", "ns1")
    assert first is not None

    await cluster.api.delete(SECRETS, "ns1", "demo-security-key")

    def regenerated() -> list[dict[str, Any]]:
        return [e for e in cluster.events_about("demo") if e["reason"] == "SecurityKeyRegenerated"]

    await eventually(lambda: len(regenerated()) == 1, what="one SecurityKeyRegenerated warning")
    [told] = regenerated()
    assert told["type"] == "Warning"
    assert "Secret 'demo-security-key' holding the generated security key was gone" in told["message"]
    assert "spec.securityKeySecretRef" in told["message"]
    again = cluster.get(SECRETS, "demo-security-key", "ns1")
    assert again is not None and again["data"] != first["data"]
    assert not any(value in told["message"] for value in again["data"].values())
