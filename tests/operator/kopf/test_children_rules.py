"""How a resource's children are written: dry runs together, then what the pods use or are held
to (ConfigMap, Secrets, the generated key to create, claim, NetworkPolicy) together, the
Deployment once they are all written, then what acts on it (autoscaler, disruption budget); the
Service and the Ingress alongside them all, waited on by none."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import pytest
from agentos_operator import render, watching
from agentos_operator.kube import kinds
from agentos_operator.kube.children import (
    Change,
    ChildBeingRemovedError,
    ChildConflictError,
    ChildRejectedError,
    CreatedOnce,
    _refused,
    apply_children,
    describe_unapplied,
    quota_fix,
    unapplied_children,
)
from agentos_operator.kube.client import FORBIDDEN_REMEDY, ApiError, cause_reasons, status_error
from agentos_operator.kube.store import Store
from agentos_operator.resources import AgentOSResource, parse_resource

from tests.operator.offline.inputs import resource_body

OWNER = ("ns1", "demo")


def demo(**extra: Any) -> AgentOSResource:
    spec = {
        "models": [{"id": "m", "apiKeySecretRef": {"name": "openai", "key": "k"}}],
        "agents": [{"id": "a"}],
        "databases": [{"id": "r", "type": "redis", "urlSecretRef": {"name": "redis", "key": "url"}}],
        "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 4},
        "networkPolicy": {"enabled": True},
        **extra,
    }
    body = resource_body(spec)
    body["metadata"].update(name="demo", namespace="ns1", uid="uid-demo")
    return parse_resource(body)


def manifests(**extra: Any) -> list[dict[str, Any]]:
    resource = demo(**extra)
    settings = render.RenderSettings(default_image="registry.example/agentos:1")
    return render.render(resource, render.placeholder_secrets(resource), settings=settings)


class Api:
    """Applies into ``objects``, each call taking a few turns of the loop; logs when each starts and ends."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.log: list[tuple[str, str, str]] = []  # (start | end, dry | real, kind)
        self.gets: list[str] = []
        self.refuse: str | None = None
        self.refuse_write: ApiError | None = None
        """Refuses the real write of the Deployment with this (the dry run passes)."""
        self.turns: dict[str, int] = {}  # loop turns a kind's call takes (3 unless said)
        self.refuse_with: dict[str, ApiError] = {}
        """Refuses the dry run of a kind with this."""
        self.fail_write: dict[str, ApiError] = {}
        """Fails the real write of a kind with this, once its turns are taken (the dry run passes)."""

    async def apply(self, body: Mapping[str, Any], *, field_manager: str, dry_run: bool = False) -> dict[str, Any]:
        mode = "dry" if dry_run else "real"
        self.log.append(("start", mode, body["kind"]))
        for _ in range(self.turns.get(body["kind"], 3)):
            await asyncio.sleep(0)
        self.log.append(("end", mode, body["kind"]))
        if dry_run and body["kind"] == self.refuse:
            raise ApiError(verb="dry-run apply", path="/", status=422, reason="Invalid", message="no")
        if dry_run and body["kind"] in self.refuse_with:
            raise self.refuse_with[body["kind"]]
        if not dry_run and body["kind"] == "Deployment" and self.refuse_write is not None:
            raise self.refuse_write
        if not dry_run and body["kind"] in self.fail_write:
            raise self.fail_write[body["kind"]]
        key = (body["kind"], body["metadata"]["name"])
        live = self.objects.get(key)
        answer = {**body, "metadata": {**body["metadata"], "uid": "u", "resourceVersion": "7"}}
        if live is not None and live.get("data"):  # as server-side apply keeps another manager's keys
            answer["data"] = {**live["data"], **(body.get("data") or {})}
        if dry_run:
            return answer if live is not None else {**body}
        self.objects[key] = answer
        return answer

    async def create(self, body: Mapping[str, Any], *, field_manager: str, dry_run: bool = False) -> dict[str, Any]:
        """Creates into ``objects`` (logged as the kind's creation), each call taking a few turns of the loop."""
        mode, created = "dry" if dry_run else "real", f"{body['kind']} (created)"
        self.log.append(("start", mode, created))
        for _ in range(3):
            await asyncio.sleep(0)
        self.log.append(("end", mode, created))
        answer = {**body, "metadata": {**body["metadata"], "uid": "u", "resourceVersion": "7"}}
        if not dry_run:
            self.objects[(body["kind"], body["metadata"]["name"])] = answer
        return answer if not dry_run else {**body}

    async def patch(
        self, kind: kinds.Kind, namespace: str, name: str, patch: Mapping[str, Any], *, field_manager: str
    ) -> dict[str, Any]:
        """A merge patch of ``data``, refused unless the object is still at the version in it."""
        self.log.append(("patch", "real", kind.kind))
        live = self.objects[(kind.kind, name)]
        assert patch["metadata"]["resourceVersion"] == live["metadata"]["resourceVersion"]
        data = {k: v for k, v in {**live.get("data", {}), **patch.get("data", {})}.items() if v is not None}
        self.objects[(kind.kind, name)] = {
            **live,
            "data": data,
            "metadata": {**live["metadata"], "resourceVersion": "8"},
        }
        return self.objects[(kind.kind, name)]

    async def get(self, kind: kinds.Kind, namespace: str, name: str) -> dict[str, Any] | None:
        self.gets.append(kind.kind)
        return self.objects.get((kind.kind, name))


@pytest.fixture
def api() -> Api:
    return Api()


@pytest.fixture
async def cache(api: Api) -> AsyncIterator[Store]:
    result = Store(api, consistency_seconds=5)  # type: ignore[arg-type]
    for kind in watching.CHILD_KINDS:  # as the operator watches them, their lists in
        result.watch(kind)
        result.listed(kind, None)
    result.watch(kinds.SECRET, keep_data=False)
    yield result
    result.close()


async def apply(
    api: Api, cache: Store, changes: list[Change] | None = None, *, created_once: Sequence[CreatedOnce] = ()
) -> dict[str, dict[str, Any]]:
    return await apply_children(
        api,  # type: ignore[arg-type]
        cache,
        manifests(),
        owner=OWNER,
        owner_uid="uid-demo",
        field_manager="op",
        changes=[] if changes is None else changes,
        created_once=created_once,
    )


async def test_the_dry_runs_go_out_together_before_any_write(api: Api, cache: Store) -> None:
    await apply(api, cache)

    dry = [entry for entry in api.log if entry[1] == "dry"]
    kinds_sent = [kind for _, _, kind in dry[: len(dry) // 2]]
    assert [verb for verb, _, _ in dry] == ["start"] * len(kinds_sent) + ["end"] * len(kinds_sent)
    assert kinds_sent == [m["kind"] for m in manifests()]
    first_write = next(i for i, entry in enumerate(api.log) if entry[1] == "real")
    assert first_write == len(dry)


async def test_the_deployment_is_written_after_what_its_pods_use_and_before_what_acts_on_it(
    api: Api, cache: Store
) -> None:
    changes: list[Change] = []
    live = await apply(api, cache, changes)

    real = [(verb, kind) for verb, mode, kind in api.log if mode == "real" and kind != "Service"]
    at = real.index(("start", "Deployment"))
    before = {kind for verb, kind in real[:at] if verb == "end"}
    assert before == {"ConfigMap", "Secret", "NetworkPolicy"}
    assert real[at + 1] == ("end", "Deployment")
    assert {kind for _, kind in real[at + 2 :]} == {"HorizontalPodAutoscaler", "PodDisruptionBudget"}
    assert sorted(c.kind for c in changes) == sorted(m["kind"] for m in manifests())
    assert {c.action for c in changes} == {"created"}
    assert live["Deployment"]["metadata"]["resourceVersion"] == "7"
    assert api.gets == []  # absent from the store: the dry runs said they did not exist


async def test_a_key_to_create_is_created_before_what_the_pods_use_which_carries_its_value(
    api: Api, cache: Store
) -> None:
    """The env Secret carries the key: written only once the key is stored, so that a create
    another replica's key made fail (409) leaves no env Secret with a value no Secret holds."""
    key = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "demo-security-key", "namespace": "ns1"}}
    changes: list[Change] = []

    await apply(api, cache, changes, created_once=[CreatedOnce(key)])

    real = [(verb, kind) for verb, mode, kind in api.log if mode == "real"]
    first_end = next(i for i, (verb, _) in enumerate(real) if verb == "end")
    started_together = {kind for verb, kind in real[:first_end] if verb == "start"}
    assert started_together == {"Secret (created)", "Service"}, "the Service waits on nothing"
    created = real.index(("end", "Secret (created)"))
    assert all(real.index(("start", kind)) > created for kind in ("ConfigMap", "Secret", "NetworkPolicy", "Deployment"))
    assert changes[0] == Change("created", "Secret", "demo-security-key")  # told first, as it is listed first


async def test_a_child_only_its_dry_run_shows_to_exist_is_read_and_refused_when_not_ours(
    api: Api, cache: Store
) -> None:
    squatter = {"kind": "ConfigMap", "metadata": {"name": "demo-config", "namespace": "ns1", "uid": "theirs"}}
    api.objects[("ConfigMap", "demo-config")] = {
        **squatter,
        "metadata": {**squatter["metadata"], "resourceVersion": "1"},
    }

    with pytest.raises(ChildConflictError, match="ConfigMap 'demo-config' exists and is not owned"):
        await apply(api, cache)

    assert api.gets == ["ConfigMap"]
    assert [entry for entry in api.log if entry[1] == "real"] == []


def _controlled_by(name: str, uid: str, *, kind: str = "AgentOSConfig", api_version: str = "agentos.dev/v1alpha1"):
    return [{"apiVersion": api_version, "kind": kind, "name": name, "uid": uid, "controller": True}]


@pytest.mark.parametrize(
    "metadata",
    [
        pytest.param({"ownerReferences": _controlled_by("demo", "uid-previous")}, id="a-previous-demo-controls-it"),
        pytest.param({"deletionTimestamp": "2026-01-01T00:00:00Z"}, id="being-deleted"),
    ],
)
async def test_a_child_the_garbage_collector_is_removing_is_waited_for_not_a_conflict(
    api: Api, cache: Store, metadata: dict[str, Any]
) -> None:
    # The claim of an AgentOSConfig deleted and made again under its name (a new uid), not collected yet.
    api.objects[("ConfigMap", "demo-config")] = {
        "kind": "ConfigMap",
        "metadata": {"name": "demo-config", "namespace": "ns1", "uid": "old", "resourceVersion": "1", **metadata},
    }

    with pytest.raises(ChildBeingRemovedError, match="ConfigMap 'demo-config' .* garbage collector") as caught:
        await apply(api, cache)

    assert not isinstance(caught.value, ChildConflictError)
    assert "delete" not in str(caught.value).replace("being deleted", "")
    assert [entry for entry in api.log if entry[1] == "real"] == []


async def test_a_child_being_deleted_names_the_finalizers_it_waits_for(api: Api, cache: Store) -> None:
    api.objects[("ConfigMap", "demo-config")] = {
        "kind": "ConfigMap",
        "metadata": {
            "name": "demo-config",
            "namespace": "ns1",
            "uid": "old",
            "resourceVersion": "1",
            "deletionTimestamp": "2026-01-01T00:00:00Z",
            "finalizers": ["example.com/backup", "foregroundDeletion"],
        },
    }

    with pytest.raises(ChildBeingRemovedError) as caught:
        await apply(api, cache)

    assert str(caught.value) == (
        "ConfigMap 'demo-config' of a previous AgentOSConfig of this name (or being deleted) is being removed by the "
        "garbage collector (it waits for its finalizers 'example.com/backup', 'foregroundDeletion'): it is made anew "
        "once that is done"
    )
    assert [entry for entry in api.log if entry[1] == "real"] == []


@pytest.mark.parametrize(
    "refs",
    [
        pytest.param(_controlled_by("other", "uid-other"), id="another-agentosconfig"),
        pytest.param(_controlled_by("demo", "uid-x", kind="Deployment", api_version="apps/v1"), id="a-deployment"),
        pytest.param(_controlled_by("demo", "uid-x", api_version="other.example/v1"), id="another-groups-kind"),
    ],
)
async def test_a_child_someone_else_controls_is_a_conflict_even_under_the_same_name(
    api: Api, cache: Store, refs: list[dict[str, Any]]
) -> None:
    api.objects[("ConfigMap", "demo-config")] = {
        "kind": "ConfigMap",
        "metadata": {
            "name": "demo-config",
            "namespace": "ns1",
            "uid": "o",
            "resourceVersion": "1",
            "ownerReferences": refs,
        },
    }

    with pytest.raises(
        ChildConflictError, match="ConfigMap 'demo-config' exists and is not owned.*rename or delete it"
    ):
        await apply(api, cache)


async def test_a_refused_dry_run_writes_nothing(api: Api, cache: Store) -> None:
    api.refuse = "Service"

    with pytest.raises(Exception, match="the API server refuses Service 'demo'"):
        await apply(api, cache)

    assert [entry for entry in api.log if entry[1] == "real"] == []


async def test_the_writes_are_told_in_the_order_of_the_children_whichever_finished_first(
    api: Api, cache: Store
) -> None:
    api.turns = {"ConfigMap": 9, "Secret": 6}  # the first two children finish last
    changes: list[Change] = []

    await apply(api, cache, changes)

    assert [c.kind for c in changes] == [m["kind"] for m in manifests()]


async def test_the_service_is_written_alongside_the_waves_and_the_deployment_waits_not_for_it(
    api: Api, cache: Store
) -> None:
    api.turns = {"Service": 40}  # far longer than the three waves together
    changes: list[Change] = []

    await apply(api, cache, changes)

    real = [(verb, kind) for verb, mode, kind in api.log if mode == "real"]
    assert real.index(("start", "Service")) < real.index(("end", "ConfigMap"))
    assert real.index(("end", "PodDisruptionBudget")) < real.index(("end", "Service"))
    assert [c.kind for c in changes] == [m["kind"] for m in manifests()]  # told in order all the same


async def test_the_ingress_is_written_alongside_the_waves_as_the_service_is(api: Api, cache: Store) -> None:
    # An ingress controller's admission webhook may take long over it; no pod needs it to start.
    api.turns = {"Ingress": 40}
    with_ingress = manifests(ingress={"enabled": True, "host": "agents.example.com"})
    changes: list[Change] = []

    await apply_children(
        api,  # type: ignore[arg-type]
        cache,
        with_ingress,
        owner=OWNER,
        owner_uid="uid-demo",
        field_manager="op",
        changes=changes,
    )

    real = [(verb, kind) for verb, mode, kind in api.log if mode == "real"]
    assert real.index(("start", "Ingress")) < real.index(("end", "ConfigMap"))
    assert real.index(("end", "PodDisruptionBudget")) < real.index(("end", "Ingress"))
    assert [c.kind for c in changes] == [m["kind"] for m in with_ingress]
    assert "Ingress" in [c.kind for c in changes]


async def test_a_service_that_fails_while_the_waves_go_on_leaves_them_written_and_told(api: Api, cache: Store) -> None:
    api.turns = {"Service": 40}
    api.fail_write = {"Service": ApiError(verb="apply", path="/", status=503, reason="ServiceUnavailable", message="")}
    changes: list[Change] = []

    with pytest.raises(ApiError) as failed:
        await apply(api, cache, changes)

    assert failed.value.status == 503
    assert [c.kind for c in changes] == [m["kind"] for m in manifests() if m["kind"] != "Service"]


async def test_a_wave_that_fails_still_waits_for_the_service_and_tells_it(api: Api, cache: Store) -> None:
    api.fail_write = {
        "Deployment": ApiError(verb="apply", path="/", status=503, reason="ServiceUnavailable", message="")
    }
    api.turns = {"Service": 40}
    changes: list[Change] = []

    with pytest.raises(ApiError):
        await apply(api, cache, changes)

    assert ("end", "real", "Service") in api.log
    assert {c.kind for c in changes} == {"ConfigMap", "Secret", "NetworkPolicy", "Service"}


async def test_a_child_of_someone_else_its_dry_run_fails_on_is_reported_as_theirs(api: Api, cache: Store) -> None:
    # Their Deployment's selector is immutable: the dry run fails on it, yet the name is what is wrong.
    theirs = {
        "kind": "Deployment",
        "metadata": {"name": "demo", "namespace": "ns1", "uid": "x", "resourceVersion": "1"},
    }
    api.objects[("Deployment", "demo")] = theirs
    api.refuse = "Deployment"

    with pytest.raises(ChildConflictError, match="Deployment 'demo' exists and is not owned"):
        await apply(api, cache)

    assert api.gets == ["Deployment"]
    assert [entry for entry in api.log if entry[1] == "real"] == []


async def test_a_key_added_by_hand_to_the_env_secret_is_removed_and_nothing_else_is_written(api: Api) -> None:
    await apply(api, Store(api, consistency_seconds=5))  # type: ignore[arg-type]
    env = api.objects[("Secret", "demo-env")]
    api.objects[("Secret", "demo-env")] = {**env, "data": {"OPENAI_BASE_URL": "aHR0cDovL2V2aWw="}}
    api.log.clear()
    restarted = Store(api, consistency_seconds=5)  # type: ignore[arg-type]
    changes: list[Change] = []

    await apply(api, restarted, changes)

    assert [entry for entry in api.log if entry[1] == "real" and entry[0] != "end"] == [
        ("start", "real", "Secret"),
        ("patch", "real", "Secret"),
    ]
    assert "OPENAI_BASE_URL" not in api.objects[("Secret", "demo-env")].get("data", {})
    assert changes == [Change("updated", "Secret", "demo-env")]
    restarted.close()


async def test_a_write_etcd_refuses_past_its_dry_run_is_the_specs_to_fix_not_a_retry(api: Api, cache: Store) -> None:
    api.refuse_write = ApiError(
        verb="apply", path="/", status=500, reason="InternalError", message="etcdserver: request is too large"
    )
    changes: list[Change] = []

    with pytest.raises(ChildRejectedError) as refused:
        await apply(api, cache, changes)

    assert not api.refuse_write.transient
    assert (refused.value.kind, refused.value.name, refused.value.status) == ("Deployment", "demo", 500)
    assert "etcdserver: request is too large" in str(refused.value)
    assert "Deployment" not in {change.kind for change in changes}  # what was written before stays told


def test_a_refusal_listing_several_field_errors_reads_the_same_whatever_order_the_server_gave() -> None:
    cpu = 'spec.template.spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1'
    memory = 'spec.template.spec.containers[0].resources.requests: Invalid value: "1Gi": must be less than or equal to memory limit of 1000Mi'

    def refused(first: str, second: str) -> ChildRejectedError:
        message = f'Deployment.apps "demo" is invalid: [{first}, {second}]'
        error = ApiError(verb="apply", path="/", status=422, reason="Invalid", message=message)
        return ChildRejectedError("Deployment", "demo", error)

    assert str(refused(cpu, memory)) == str(refused(memory, cpu))
    assert refused(cpu, memory).detail == f'Deployment.apps "demo" is invalid: [{memory}, {cpu}]'
    plain = ApiError(verb="apply", path="/", status=422, reason="Invalid", message="spec.replicas: must be >= 0")
    assert ChildRejectedError("Deployment", "demo", plain).detail == "spec.replicas: must be >= 0"


def test_a_refusal_names_the_resources_fields_to_fix_where_the_offline_checks_find_them() -> None:
    message = (
        'Service "demo" is invalid: spec.LoadBalancerSourceRanges[0]: Invalid value: "10.0.0.1": must be a valid CIDR'
    )
    error = ChildRejectedError(
        "Service", "demo", ApiError(verb="apply", path="/", status=422, reason="Invalid", message=message)
    )
    field = "spec.service.loadBalancerSourceRanges[0]: '10.0.0.1' is not a CIDR"

    named = error.naming([field])

    assert str(error).endswith(": fix the spec")
    assert str(named) == f"the API server refuses Service 'demo': {message}: fix {field}"
    assert (named.kind, named.name, named.status, named.detail) == ("Service", "demo", 422, message)
    assert error.naming([]) is error, "no field found offline: the server's words alone"


def test_a_namespace_being_deleted_is_waited_out_not_reported_as_the_specs_fault() -> None:
    message = 'configmaps "demo-config" is forbidden: unable to create new content in namespace t because it is being terminated'
    terminating = ApiError(verb="dry-run apply", path="/", status=403, reason="Forbidden", message=message)
    denied = ApiError(verb="dry-run apply", path="/", status=403, reason="Forbidden", message="forbidden: RBAC")

    assert terminating.transient and not denied.transient


def test_a_secret_refused_in_a_namespace_being_deleted_is_known_by_its_cause_though_its_words_are_dropped() -> None:
    # As a 1.37 API server answers the dry run of a Secret child in a namespace being deleted.
    going = {
        "kind": "Status",
        "status": "Failure",
        "message": 'secrets "demo-env" is forbidden: unable to create new content in namespace t because it is being terminated',
        "reason": "Forbidden",
        "details": {
            "name": "demo-env",
            "kind": "secrets",
            "causes": [
                {
                    "reason": "NamespaceTerminating",
                    "message": "namespace t is being terminated",
                    "field": "metadata.namespace",
                }
            ],
        },
        "code": 403,
    }
    path = "/api/v1/namespaces/t/secrets/demo-env"

    terminating = status_error("dry-run apply", path, 403, going, reason="Forbidden")

    assert terminating.detail == ""  # a Secret's words are never kept
    assert terminating.causes == ("NamespaceTerminating",)
    # Waited out (transient), not a refusal of the spec (ChildRejected) nor of the operator's grants.
    assert terminating.namespace_terminating and terminating.transient and not terminating.denied
    assert FORBIDDEN_REMEDY not in str(terminating)
    denied_words = (
        'secrets "demo-env" is forbidden: User "system:serviceaccount:ops:agentos" cannot patch resource "secrets"'
    )
    rbac = {
        "kind": "Status",
        "reason": "Forbidden",
        "message": denied_words,
        "details": {"name": "demo-env", "kind": "secrets"},
    }
    denied = status_error("dry-run apply", path, 403, rbac, reason="Forbidden")
    # The authorizer's words quote nothing sent: kept, and they tell the operator's grants at fault.
    assert denied.denied and denied.unauthorized and not denied.transient and denied.detail == denied_words


def test_of_a_secrets_403_only_the_authorizers_words_are_kept_and_they_are_no_refusal_of_the_child() -> None:
    path = "/api/v1/namespaces/t/secrets/demo-env"
    rbac = (
        'secrets "demo-env" is forbidden: User "system:serviceaccount:ops:agentos" cannot patch resource "secrets"'
        ' in API group "" in the namespace "t"'
    )
    webhook = {"reason": "Forbidden", "message": 'admission webhook "w" denied the request: sk-live-123 is weak'}
    quoting = {"reason": "Forbidden", "message": f'{rbac}: and then "sk-live-123"'}

    denied = status_error("dry-run apply", path, 403, {"reason": "Forbidden", "message": rbac}, reason=None)
    by_webhook = status_error("dry-run apply", path, 403, webhook, reason=None)
    trailing = status_error("dry-run apply", path, 403, quoting, reason=None)

    assert denied.detail == rbac and denied.unauthorized
    assert by_webhook.detail == "" and not by_webhook.unauthorized
    assert trailing.detail == rbac, "the authorizer's words alone, nothing after them"
    assert "sk-live-123" not in str(by_webhook) + str(trailing)
    # At a dry run, the authorizer's refusal is raised as it is (the grants, retried, then
    # ApplyFailed), not as the spec's fault (ChildRejected); the webhook's is the child's.
    assert not _refused(denied) and _refused(by_webhook)
    configmap = ApiError(
        verb="dry-run apply",
        path="/api/v1/namespaces/t/configmaps/demo-config",
        status=403,
        reason="Forbidden",
        message='configmaps "demo-config" is forbidden: exceeded quota: q, requested: configmaps=1',
    )
    assert _refused(configmap) and not configmap.unauthorized


def test_the_causes_of_a_status_are_their_reasons_and_nothing_else() -> None:
    causes = [
        {"reason": "FieldValueInvalid", "message": "quoted 'sk-secret'", "field": "data.x"},
        {"field": "y"},
        "odd",
    ]

    assert cause_reasons({"causes": causes}) == ("FieldValueInvalid",)
    assert cause_reasons(None) == cause_reasons({"causes": "odd"}) == cause_reasons("odd") == ()


def test_a_403_of_the_operators_permissions_says_where_they_come_from_and_a_namespace_going_does_not() -> None:
    message = 'secrets "openai" is forbidden: User "system:serviceaccount:ops:agentos" cannot get resource "secrets"'
    denied = ApiError(
        verb="get", path="/api/v1/namespaces/t/secrets/openai", status=403, reason="Forbidden", message=message
    )
    going = 'configmaps "demo-config" is forbidden: unable to create new content in namespace t because it is being terminated'
    terminating = ApiError(verb="apply", path="/", status=403, reason="Forbidden", message=going)
    invalid = ApiError(verb="apply", path="/", status=422, reason="Invalid", message="spec.replicas: must be >= 0")

    assert str(denied) == f"get /api/v1/namespaces/t/secrets/openai: 403 Forbidden: {message}: {FORBIDDEN_REMEDY}"
    assert "helm upgrade" in FORBIDDEN_REMEDY and denied.detail == message
    assert FORBIDDEN_REMEDY not in str(terminating) and FORBIDDEN_REMEDY not in str(invalid)


async def test_children_as_applied_are_not_unapplied_and_an_edit_of_the_spec_names_those_it_changes(
    api: Api, cache: Store
) -> None:
    await apply(api, cache)
    edited = manifests(agents=[{"id": "a", "instructions": ["Changed."]}])

    assert await unapplied_children(cache, manifests(), owner=OWNER, owner_uid="uid-demo") == []
    assert await unapplied_children(cache, edited, owner=OWNER, owner_uid="uid-demo") == [
        ("ConfigMap", "demo-config"),
        ("Deployment", "demo"),
    ]


async def test_a_child_someone_elses_is_unapplied(api: Api, cache: Store) -> None:
    await apply(api, cache)
    theirs = {**api.objects[("Service", "demo")], "metadata": {"name": "demo", "namespace": "ns1"}}
    cache.wrote(kinds.SERVICE, theirs, sent=theirs, owner=OWNER)

    every = [(m["kind"], m["metadata"]["name"]) for m in manifests()]
    assert await unapplied_children(cache, manifests(), owner=OWNER, owner_uid="another-uid") == every
    assert ("Service", "demo") in await unapplied_children(cache, manifests(), owner=OWNER, owner_uid="uid-demo")


def test_what_unpausing_would_change_is_said_in_a_few_words() -> None:
    six = [("ConfigMap", f"c{i}") for i in range(6)]

    assert describe_unapplied([]) is None
    assert describe_unapplied([("Deployment", "demo")]) == "Deployment 'demo' differs from it"
    assert describe_unapplied([("ConfigMap", "demo-config"), ("Deployment", "demo")]) == (
        "ConfigMap 'demo-config' and Deployment 'demo' differ from it"
    )
    assert describe_unapplied(six) == (
        "ConfigMap 'c0', ConfigMap 'c1', ConfigMap 'c2', ConfigMap 'c3', ConfigMap 'c4' and 1 more differ from it"
    )


def over_quota(resource: str, name: str, requested: str, quota: str = "q") -> ApiError:
    """A dry run refused by the ResourceQuota admission plugin, in its words (as a 1.37 API server answers)."""
    used = ",".join(f"{item.split('=')[0]}=1" for item in requested.split(","))
    message = f'{resource} "{name}" is forbidden: exceeded quota: {quota}, requested: {requested}, used: {used}, limited: {used}'
    return ApiError(verb="dry-run apply", path="/", status=403, reason="Forbidden", message=message)


def test_a_quota_refusal_says_to_raise_the_quota_not_to_fix_the_spec() -> None:
    counted = ChildRejectedError(
        "ConfigMap", "demo-config", over_quota("configmaps", "demo-config", "count/configmaps=1")
    )
    storage = ChildRejectedError(
        "PersistentVolumeClaim", "demo-data", over_quota("persistentvolumeclaims", "demo-data", "requests.storage=1Gi")
    )

    assert str(counted).endswith(
        "exceeded quota: q, requested: count/configmaps=1, used: count/configmaps=1, limited: count/configmaps=1:"
        " raise the namespace's ResourceQuota 'q' (kubectl describe resourcequota q)"
    )
    assert "fix the spec" not in str(counted) + str(storage)
    assert str(storage).endswith(
        "raise the namespace's ResourceQuota 'q' (kubectl describe resourcequota q), or lower spec.persistence.size"
    )
    assert quota_fix("q", "requested: limits.memory=1Gi,requests.cpu=2, used: x=1") == (
        "raise the namespace's ResourceQuota 'q' (kubectl describe resourcequota q), or lower spec.resources"
    )
    assert quota_fix("q", "requested: fast.storageclass.storage.k8s.io/requests.storage=1Gi, used: x").endswith(
        "or lower spec.persistence.size"
    )
    # Not the operator's permissions: no word of the chart's grants.
    assert not counted.error.denied and FORBIDDEN_REMEDY not in str(counted.error)
    assert counted.error.quota == "q" and not counted.error.unauthorized and _refused(counted.error)


async def test_every_child_the_dry_runs_refuse_is_named_in_one_refusal_and_nothing_is_written(
    api: Api, cache: Store
) -> None:
    api.refuse_with = {
        "ConfigMap": over_quota("configmaps", "demo-config", "count/configmaps=1"),
        "Service": over_quota("services", "demo", "services=1", quota="svc"),
    }

    with pytest.raises(ChildRejectedError) as refused:
        await apply(api, cache)

    message = str(refused.value)
    assert [(r.kind, r.name) for r in refused.value.refusals] == [("ConfigMap", "demo-config"), ("Service", "demo")]
    assert message.startswith("the API server refuses ConfigMap 'demo-config': configmaps \"demo-config\" is forbidden")
    assert "; the API server refuses Service 'demo': services \"demo\" is forbidden: exceeded quota: svc," in message
    assert "ResourceQuota 'q'" in message and "ResourceQuota 'svc'" in message
    assert message.endswith("; until then no child is written")
    assert [entry for entry in api.log if entry[1] == "real"] == []


def test_each_refusal_gets_its_own_spec_fields_when_named() -> None:
    invalid = ApiError(verb="apply", path="/", status=422, reason="Invalid", message="bad CIDR")
    quota = over_quota("configmaps", "demo-config", "count/configmaps=1")
    both = ChildRejectedError(
        "ConfigMap", "demo-config", quota, held=True, others=[ChildRejectedError("Service", "demo", invalid)]
    )

    named = both.naming_each(
        lambda refusal: ["spec.service.loadBalancerSourceRanges[0]: no"] if refusal.kind == "Service" else []
    )

    assert str(named).endswith(
        "; the API server refuses Service 'demo': bad CIDR: fix spec.service.loadBalancerSourceRanges[0]: no"
        "; until then no child is written"
    )
    assert both.naming_each(lambda refusal: []) is both


def test_of_a_secrets_quota_refusal_its_words_are_kept_for_they_quote_nothing_sent() -> None:
    path = "/api/v1/namespaces/t/secrets/demo-env"
    words = (
        'secrets "demo-env" is forbidden: exceeded quota: q, requested: count/secrets=1,secrets=1,'
        " used: count/secrets=2,secrets=2, limited: count/secrets=2,secrets=2"
    )
    kept = status_error("dry-run apply", path, 403, {"reason": "Forbidden", "message": words}, reason=None)
    trailing = status_error(
        "dry-run apply", path, 403, {"reason": "Forbidden", "message": f"{words} and sk-live-123"}, reason=None
    )

    assert kept.detail == words and kept.quota == "q"
    assert trailing.detail == "" and trailing.quota is None  # anything after the quota's words: dropped whole
