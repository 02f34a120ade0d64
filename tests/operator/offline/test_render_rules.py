"""What render decides: variable names, volumes, scaling objects, the config hash, ownership."""

import base64
from dataclasses import replace
from typing import Any

import pydantic
import pytest
import yaml
from agentos_operator import render
from agentos_operator.errors import MissingSecretsError, OperatorError
from agentos_operator.resources import AgentOSResource, parse_resource
from agentos_operator.settings import OperatorSettings
from agentos_runtime.config import ConfigError, parse_config_text

from tests.operator.offline.inputs import resource_body

SETTINGS = render.RenderSettings(default_image="registry.example/agentos:1")
KEY_A = {"name": "openai", "key": "api-key"}
KEY_B = {"name": "other-provider", "key": "token"}
PG = {"id": "main", "type": "postgres", "urlSecretRef": {"name": "pg", "key": "uri"}}


def resource(uid: str | None = "uid-1", **spec: Any) -> AgentOSResource:
    spec.setdefault("models", [{"id": "gpt-4o-mini", "apiKeySecretRef": KEY_A}])
    spec.setdefault("agents", [{"id": "a"}])
    body = resource_body(spec)
    if uid is not None:
        body["metadata"]["uid"] = uid
    return parse_resource(body)


def rendered(res: AgentOSResource, secrets: dict[tuple[str, str], str] | None = None) -> dict[str, dict[str, Any]]:
    values = render.placeholder_secrets(res) if secrets is None else secrets
    return {m["kind"]: m for m in render.render(res, values, settings=SETTINGS)}


def runtime_config(manifests: dict[str, dict[str, Any]]) -> Any:
    return parse_config_text(manifests["ConfigMap"]["data"]["config.yaml"])


def env_secret(manifests: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in manifests["Secret"]["data"].items()}


def pod(manifests: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return manifests["Deployment"]["spec"]["template"]["spec"]


def test_models_sharing_a_key_share_a_variable_and_other_keys_get_their_own() -> None:
    res = resource(
        models=[
            {"id": "gpt-4o", "apiKeySecretRef": KEY_A},
            {"id": "gpt-4o-mini", "apiKeySecretRef": KEY_A},
            {"id": "claude-via-proxy", "apiKeySecretRef": KEY_B},
            {"id": "local", "baseUrl": "http://vllm:8000/v1"},
        ]
    )
    manifests = rendered(res)
    assert {m.id: m.api_key_env for m in runtime_config(manifests).models} == {
        "gpt-4o": "OPENAI_API_KEY",
        "gpt-4o-mini": "OPENAI_API_KEY",
        "claude-via-proxy": "OPENAI_API_KEY_CLAUDE_VIA_PROXY",
        "local": None,
    }
    assert sorted(manifests["Secret"]["data"]) == [
        "OPENAI_API_KEY",
        "OPENAI_API_KEY_CLAUDE_VIA_PROXY",
        "OS_SECURITY_KEY",
    ]


def test_databases_get_the_guides_variables_first_and_suffixed_ones_after() -> None:
    res = resource(
        databases=[
            PG,
            {"id": "analytics", "type": "postgres", "cnpgClusterRef": {"name": "warehouse"}},
            {"id": "cache", "type": "redis", "urlSecretRef": {"name": "redis", "key": "url"}},
            {"id": "cache-2", "type": "redis", "urlSecretRef": {"name": "redis", "key": "url2"}},
            {"id": "local", "type": "sqlite"},
        ]
    )
    databases = {d.id: d for d in runtime_config(rendered(res)).databases}
    assert {i: d.url_env for i, d in databases.items() if d.type != "sqlite"} == {
        "main": "DATABASE_URL",
        "analytics": "DATABASE_URL_ANALYTICS",
        "cache": "REDIS_URL",
        "cache-2": "REDIS_URL_CACHE_2",
    }
    assert databases["local"].path == "/data/local.db"


def test_a_postgres_databases_timeouts_reach_the_runtime_file_and_defaults_stay_out_of_it() -> None:
    res = resource(
        databases=[
            {"id": "pooled", "type": "postgres", "cnpgClusterRef": {"name": "pg"}},
            {
                "id": "bounced",
                "type": "postgres",
                "urlSecretRef": {"name": "pgbouncer", "key": "url"},
                "timeoutSeconds": 2.5,
                "behindPooler": True,
            },
        ]
    )
    secrets = {**render.placeholder_secrets(res), ("pgbouncer", "url"): "postgresql://app@pgbouncer:6432/app"}
    manifests = rendered(res, secrets)

    written = yaml.safe_load(manifests["ConfigMap"]["data"]["config.yaml"])["databases"]
    databases = {database.id: database for database in runtime_config(manifests).databases}
    assert [sorted(entry) for entry in written] == [
        ["id", "type", "url_env"],
        ["behind_pooler", "id", "timeout_seconds", "type", "url_env"],
    ]
    assert (databases["pooled"].timeout_seconds, databases["pooled"].behind_pooler) == (5.0, False)
    assert (databases["bounced"].timeout_seconds, databases["bounced"].behind_pooler) == (2.5, True)


def test_postgres_urls_get_the_psycopg_driver_and_stray_whitespace_is_dropped() -> None:
    res = resource(
        databases=[
            {"id": "main", "type": "postgres", "cnpgClusterRef": {"name": "pg"}},
            {"id": "cache", "type": "redis", "urlSecretRef": {"name": "redis", "key": "url"}},
        ]
    )
    secrets = {
        ("openai", "api-key"): "sk-test\n",
        ("pg-app", "uri"): "postgresql://app:pw@pg-rw:5432/app",
        ("redis", "url"): "redis://redis:6379/0",
        ("demo-security-key", "security-key"): "key",
    }
    assert env_secret(rendered(res, secrets)) == {
        "DATABASE_URL": "postgresql+psycopg://app:pw@pg-rw:5432/app",
        "REDIS_URL": "redis://redis:6379/0",
        "OPENAI_API_KEY": "sk-test",
        "OS_SECURITY_KEY": "key",
    }
    secrets[("pg-app", "uri")] = "postgres://app:pw@pg-rw:5432/app"
    assert env_secret(rendered(res, secrets))["DATABASE_URL"] == "postgresql+psycopg://app:pw@pg-rw:5432/app"


def test_required_refs_are_sorted_unique_and_include_cnpg_and_the_generated_security_key() -> None:
    res = resource(
        models=[{"id": "m1", "apiKeySecretRef": KEY_A}, {"id": "m2", "apiKeySecretRef": KEY_A}],
        databases=[{"id": "main", "type": "postgres", "cnpgClusterRef": {"name": "pg"}}],
    )
    assert render.required_secret_refs(res) == [
        ("demo-security-key", "security-key"),
        ("openai", "api-key"),
        ("pg-app", "uri"),
    ]
    assert render.security_key_ref(res) == ("demo-security-key", "security-key")


def test_a_named_security_key_replaces_the_generated_one() -> None:
    res = resource(securityKeySecretRef={"name": "auth", "key": "os-key"})
    assert render.security_key_ref(res) == ("auth", "os-key")
    assert ("demo-security-key", "security-key") not in render.required_secret_refs(res)


def test_missing_values_raise_an_operator_error_naming_each_secret_and_key() -> None:
    res = resource(databases=[PG])
    with pytest.raises(MissingSecretsError) as caught:
        render.render(res, {("openai", "api-key"): "sk"}, settings=SETTINGS)
    assert isinstance(caught.value, OperatorError)
    assert caught.value.refs == [("demo-security-key", "security-key"), ("pg", "uri")]
    assert "Secret 'pg' key 'uri'" in str(caught.value)


def test_placeholders_are_marked_as_such() -> None:
    res = resource()
    assert render.placeholder_secrets(res)[("openai", "api-key")] == "<placeholder:openai/api-key>"


def test_sqlite_gets_a_claim_a_data_volume_and_a_recreate_strategy() -> None:
    res = resource(persistence={"size": "5Gi", "storageClassName": "fast"})
    manifests = rendered(res)
    assert manifests["PersistentVolumeClaim"]["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "5Gi"}},
        "storageClassName": "fast",
    }
    assert manifests["Deployment"]["spec"]["strategy"] == {"type": "Recreate"}
    container = pod(manifests)["containers"][0]
    assert {"name": "AGENTOS_DATA_DIR", "value": "/data"} in container["env"]
    assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"]


def test_external_databases_need_no_claim_and_roll_without_downtime() -> None:
    manifests = rendered(resource(databases=[PG], replicas=3))
    assert "PersistentVolumeClaim" not in manifests
    assert manifests["Deployment"]["spec"]["strategy"]["type"] == "RollingUpdate"
    assert manifests["Deployment"]["spec"]["replicas"] == 3
    assert [e["name"] for e in pod(manifests)["containers"][0]["env"]] == [
        "AGENTOS_METRICS_PORT",
        "AGENTOS_RUN_GRACE_SECONDS",
    ]
    assert [v["name"] for v in pod(manifests)["volumes"]] == ["config", "tmp"]
    assert manifests["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1


def test_autoscaling_omits_replicas_and_adds_an_autoscaler_and_a_budget() -> None:
    res = resource(
        databases=[PG],
        autoscaling={"enabled": True, "minReplicas": 2, "maxReplicas": 5, "targetCpuUtilizationPercentage": 60},
    )
    manifests = rendered(res)
    assert "replicas" not in manifests["Deployment"]["spec"]
    hpa = manifests["HorizontalPodAutoscaler"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 5)
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "demo"}
    assert hpa["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 60}
    assert "PodDisruptionBudget" in manifests


def test_a_single_replica_gets_no_budget_or_autoscaler() -> None:
    manifests = rendered(resource())
    assert manifests["Deployment"]["spec"]["replicas"] == 1
    assert "PodDisruptionBudget" not in manifests and "HorizontalPodAutoscaler" not in manifests


def test_the_network_policy_admits_the_namespace_by_default_or_the_given_peers() -> None:
    default = rendered(resource(networkPolicy={"enabled": True}))["NetworkPolicy"]["spec"]
    api_and_metrics = [{"port": 7777, "protocol": "TCP"}, {"port": 9464, "protocol": "TCP"}]
    assert default["ingress"] == [{"from": [{"podSelector": {}}], "ports": api_and_metrics}]
    no_metrics = resource(networkPolicy={"enabled": True}, prometheus={"enabled": False})
    assert rendered(no_metrics)["NetworkPolicy"]["spec"]["ingress"][0]["ports"] == api_and_metrics[:1]
    assert default["podSelector"]["matchLabels"] == render.selector_labels("demo")
    peers = [{"namespaceSelector": {"matchLabels": {"team": "gateway"}}}]
    custom = rendered(resource(networkPolicy={"enabled": True, "ingressFrom": peers}))["NetworkPolicy"]["spec"]
    assert custom["ingress"][0]["from"] == peers
    assert "NetworkPolicy" not in rendered(resource(networkPolicy={"enabled": False}))


def test_the_config_hash_follows_config_and_secret_values_only() -> None:
    def digest(res: AgentOSResource, secrets: dict[tuple[str, str], str], image: str = "img:1") -> str:
        manifests = render.render(res, secrets, settings=render.RenderSettings(default_image=image))
        (deployment,) = [m for m in manifests if m["kind"] == "Deployment"]
        annotation = deployment["spec"]["template"]["metadata"]["annotations"][render.CONFIG_HASH_ANNOTATION]
        assert annotation == render.config_hash(manifests)
        return str(annotation)

    res = resource()
    secrets = render.placeholder_secrets(res)
    rotated = {**secrets, ("openai", "api-key"): "sk-rotated"}
    assert digest(res, secrets) == digest(res, dict(secrets))
    assert digest(res, secrets) != digest(res, rotated)
    assert digest(res, secrets) != digest(resource(agents=[{"id": "a", "markdown": True}]), secrets)
    assert digest(res, secrets) == digest(res, secrets, image="img:2")


def test_children_are_owned_by_the_resource_once_its_uid_is_known() -> None:
    owned = render.render(resource(uid="uid-7"), render.placeholder_secrets(resource()), settings=SETTINGS)
    assert all(m["metadata"]["ownerReferences"][0]["uid"] == "uid-7" for m in owned)
    assert all(m["metadata"]["ownerReferences"][0]["controller"] is True for m in owned)
    unowned = render.render(resource(uid=None), render.placeholder_secrets(resource()), settings=SETTINGS)
    assert all("ownerReferences" not in m["metadata"] for m in unowned)
    assert all(m["metadata"]["labels"] == render.labels("demo") for m in unowned)


def test_pod_settings_from_the_spec_reach_the_pod() -> None:
    res = resource(
        image="registry.example/custom:2",
        imagePullPolicy="Always",
        env=[{"name": "LOG_LEVEL", "value": "debug"}],
        envFrom=[{"configMapRef": {"name": "extra"}}],
        podAnnotations={"team": "ai", render.CONFIG_HASH_ANNOTATION: "user-value"},
        nodeSelector={"pool": "cpu"},
        tolerations=[{"key": "dedicated", "operator": "Exists"}],
        affinity={"nodeAffinity": {}},
        serviceAccountName="agents",
        resources={"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}},
    )
    manifests = rendered(res)
    spec = pod(manifests)
    container = spec["containers"][0]
    assert (container["image"], container["imagePullPolicy"]) == ("registry.example/custom:2", "Always")
    assert container["env"][-1] == {"name": "LOG_LEVEL", "value": "debug"}
    assert container["envFrom"] == [{"secretRef": {"name": "demo-env"}}, {"configMapRef": {"name": "extra"}}]
    assert container["resources"] == {"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}}
    annotations = manifests["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["team"] == "ai" and annotations[render.CONFIG_HASH_ANNOTATION] != "user-value"
    assert (spec["nodeSelector"], spec["serviceAccountName"]) == ({"pool": "cpu"}, "agents")
    assert spec["tolerations"] == [{"key": "dedicated", "operator": "Exists"}] and spec["affinity"] == {
        "nodeAffinity": {}
    }


def test_the_pod_runs_the_runtime_under_the_restricted_profile() -> None:
    spec = pod(rendered(resource()))
    container = spec["containers"][0]
    assert container["image"] == SETTINGS.default_image
    assert container["args"] == ["serve", "--config", "/etc/agentos/config.yaml", "--host", "0.0.0.0", "--port", "7777"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["securityContext"]["runAsUser"] == 10001 and spec["automountServiceAccountToken"] is False


def test_pods_left_to_the_platforms_user_ids_name_none_and_still_refuse_root() -> None:
    # OpenShift's restricted SCC assigns each namespace's own range and refuses a pod naming 10001.
    fixed = render.render(resource(), render.placeholder_secrets(resource()), settings=SETTINGS)
    assigned = render.render(
        resource(), render.placeholder_secrets(resource()), settings=replace(SETTINGS, fixed_user_ids=False)
    )
    [fixed_pod] = [pod({"Deployment": m}) for m in fixed if m["kind"] == "Deployment"]
    [assigned_pod] = [pod({"Deployment": m}) for m in assigned if m["kind"] == "Deployment"]
    assert {"runAsUser", "runAsGroup", "fsGroup"} <= set(fixed_pod["securityContext"])
    assert assigned_pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert assigned_pod["containers"] == fixed_pod["containers"]


def test_the_service_exposes_the_runtime_port_by_name() -> None:
    service = rendered(resource(service={"type": "LoadBalancer", "port": 80}))["Service"]["spec"]
    assert service["type"] == "LoadBalancer"
    assert service["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    assert render.label_selector("demo") == (
        "app.kubernetes.io/component=runtime,app.kubernetes.io/instance=demo,app.kubernetes.io/name=agentos"
    )


def test_the_os_id_defaults_to_the_resource_name_unless_given() -> None:
    assert runtime_config(rendered(resource())).os_id == "demo"
    assert runtime_config(rendered(resource(osId="custom"))).os_id == "custom"


def test_the_system_message_settings_of_agents_and_teams_reach_the_runtime_config() -> None:
    prompt = {
        "expectedOutput": "A table.",
        "additionalContext": "Prices in EUR.",
        "addNameToContext": True,
        "addDatetimeToContext": True,
        "timezoneIdentifier": "Europe/Paris",
    }
    res = resource(agents=[{"id": "a", "name": "Ada", **prompt}], teams=[{"id": "t", "members": ["a"], **prompt}])

    config = runtime_config(rendered(res))

    for component in (config.agents[0], config.teams[0]):
        assert component.expected_output == "A table."
        assert component.additional_context == "Prices in EUR."
        assert component.add_name_to_context is True
        assert component.add_datetime_to_context is True
        assert component.timezone_identifier == "Europe/Paris"


def test_an_unknown_time_zone_is_refused_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"spec.agents\[0\].timezoneIdentifier: unknown time zone"):
        resource(agents=[{"id": "a", "timezoneIdentifier": "Mars/Olympus_Mons"}])


def test_runtime_metrics_get_a_named_port_scrape_hints_and_their_env() -> None:
    manifests = rendered(resource(databases=[PG]))
    container = pod(manifests)["containers"][0]
    assert {"name": "metrics", "containerPort": 9464, "protocol": "TCP"} in container["ports"]
    assert {"name": "AGENTOS_METRICS_PORT", "value": "9464"} in container["env"]
    annotations = manifests["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == "9464"
    off = rendered(resource(databases=[PG], prometheus={"enabled": False}))
    container = pod(off)["containers"][0]
    assert [p["name"] for p in container["ports"]] == ["http"]
    assert {"name": "AGENTOS_METRICS_PORT", "value": "0"} in container["env"]
    assert "prometheus.io/scrape" not in off["Deployment"]["spec"]["template"]["metadata"]["annotations"]


def test_a_stopping_pod_waits_for_the_service_to_forget_it_then_gives_runs_what_its_grace_period_leaves() -> None:
    default = pod(rendered(resource(databases=[PG])))
    longer = pod(rendered(resource(databases=[PG], terminationGracePeriodSeconds=300)))
    told = pod(
        rendered(
            resource(
                databases=[PG],
                env=[{"name": "AGENTOS_RUN_GRACE_SECONDS", "value": "60"}],
                terminationGracePeriodSeconds=90,
            )
        )
    )

    assert default["terminationGracePeriodSeconds"] == 30
    assert default["containers"][0]["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}
    # 5 s of preStop, then the runs' grace, then 5 s to close their streams and 5 s to record them.
    assert {"name": "AGENTOS_RUN_GRACE_SECONDS", "value": "13"} in default["containers"][0]["env"]
    assert longer["terminationGracePeriodSeconds"] == 300
    assert {"name": "AGENTOS_RUN_GRACE_SECONDS", "value": "283"} in longer["containers"][0]["env"]
    assert [e for e in told["containers"][0]["env"] if e["name"] == "AGENTOS_RUN_GRACE_SECONDS"] == [
        {"name": "AGENTOS_RUN_GRACE_SECONDS", "value": "60"}
    ]


def test_a_grace_period_too_short_for_a_clean_stop_is_refused_naming_the_field() -> None:
    with pytest.raises(
        ConfigError, match="spec.terminationGracePeriodSeconds: Input should be greater than or equal to 20"
    ):
        resource(terminationGracePeriodSeconds=10)


def test_a_jwt_verification_key_reaches_the_runtime_only_through_the_env_secret() -> None:
    res = resource(authorization={"userIsolation": True}, jwtVerificationKeySecretRef={"name": "jwt", "key": "pub"})
    assert ("jwt", "pub") in render.required_secret_refs(res)
    secrets = {**render.placeholder_secrets(res), ("jwt", "pub"): "-----BEGIN PUBLIC KEY-----x"}
    manifests = rendered(res, secrets)
    assert env_secret(manifests)["JWT_VERIFICATION_KEY"] == "-----BEGIN PUBLIC KEY-----x"
    assert "BEGIN PUBLIC KEY" not in manifests["ConfigMap"]["data"]["config.yaml"]
    config = runtime_config(manifests)
    assert config.authorization is not None and config.authorization.user_isolation is True


def test_a_progress_deadline_in_the_spec_is_the_deployments_and_none_is_left_to_kubernetes() -> None:
    default = rendered(resource(databases=[PG]))["Deployment"]
    asked = rendered(resource(databases=[PG], progressDeadlineSeconds=1800))["Deployment"]

    assert "progressDeadlineSeconds" not in default["spec"]  # the server's 600, or another manager's value
    assert asked["spec"]["progressDeadlineSeconds"] == 1800
    # Not a pod template field: the pods do not roll for it.
    assert asked["spec"]["template"] == default["spec"]["template"]


@pytest.mark.parametrize("seconds", [0, 29, 86401, -1])
def test_a_progress_deadline_out_of_range_is_refused_naming_the_field(seconds: int) -> None:
    with pytest.raises(ConfigError) as refused:
        resource(databases=[PG], progressDeadlineSeconds=seconds)

    assert "spec.progressDeadlineSeconds" in str(refused.value)


SPREAD = {
    "maxSkew": 1,
    "topologyKey": "topology.kubernetes.io/zone",
    "whenUnsatisfiable": "DoNotSchedule",
    "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": "demo"}},
}


def test_pod_labels_pull_secrets_priority_and_spread_are_the_pods_and_left_out_unless_asked() -> None:
    default = rendered(resource(databases=[PG]))["Deployment"]
    asked = rendered(
        resource(
            databases=[PG],
            podLabels={"team": "search", "example.com/cost-center": "c42"},
            imagePullSecrets=[{"name": "registry"}, {"name": "mirror"}],
            priorityClassName="agents-high",
            topologySpreadConstraints=[SPREAD],
        )
    )["Deployment"]

    template = asked["spec"]["template"]
    assert template["metadata"]["labels"] == {
        **default["spec"]["template"]["metadata"]["labels"],
        "team": "search",
        "example.com/cost-center": "c42",
    }
    assert asked["metadata"]["labels"] == default["metadata"]["labels"], (
        "the Deployment's own labels are the operator's"
    )
    assert asked["spec"]["selector"] == default["spec"]["selector"], "a selector is immutable: never the pod labels"
    assert template["spec"]["imagePullSecrets"] == [{"name": "registry"}, {"name": "mirror"}]
    assert template["spec"]["priorityClassName"] == "agents-high"
    assert template["spec"]["topologySpreadConstraints"] == [SPREAD]
    left_out = {"imagePullSecrets", "priorityClassName", "topologySpreadConstraints"}
    assert not left_out & set(default["spec"]["template"]["spec"]), "unset, nothing is rendered: no pod rolls"


def test_the_operator_labels_are_the_ones_pod_labels_may_not_set() -> None:
    from agentos_operator.render import layout
    from agentos_operator.spec import OPERATOR_POD_LABELS

    assert set(layout.labels("demo")) == OPERATOR_POD_LABELS


@pytest.mark.parametrize("key", ["app.kubernetes.io/instance", "app.kubernetes.io/managed-by"])
def test_a_pod_label_the_operator_selects_pods_by_is_refused_naming_the_key(key: str) -> None:
    with pytest.raises(ConfigError) as refused:
        resource(databases=[PG], podLabels={"team": "search", key: "mine"})

    assert f"spec.podLabels.{key}" in str(refused.value)
    assert "the operator sets on the pods" in str(refused.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("imagePullSecrets", [{"name": "Not_A_Name"}]),
        ("imagePullSecrets", [{}]),
        ("priorityClassName", "High Priority"),
        ("topologySpreadConstraints", ["zone"]),
        ("image", "UPPER/Case:bad tag"),
        ("image", "agentos:"),
        ("image", "ghcr.io/kube-agentos/runtime@sha256:abc"),
        ("mcpServers", [{"id": "s", "sidecar": {"image": "Sidecar:1", "port": 8000}}]),
    ],
)
def test_pod_settings_of_the_wrong_shape_are_refused_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(ConfigError) as refused:
        resource(databases=[PG], **{field: value})

    assert f"spec.{field}" in str(refused.value)


@pytest.mark.parametrize(
    "image",
    [
        "agentos",
        "team/agentos:1.2",
        "registry.example.com:5000/team/agentos:1.2",
        "localhost/agentos",
        "Registry.Example.com/agentos@sha256:" + "0" * 64,
    ],
)
def test_an_image_reference_the_kubelet_can_pull_reaches_the_pods(image: str) -> None:
    [container] = rendered(resource(databases=[PG], image=image))["Deployment"]["spec"]["template"]["spec"][
        "containers"
    ]
    assert container["image"] == image


def test_an_image_refused_says_what_an_image_reference_is() -> None:
    with pytest.raises(ConfigError) as refused:
        resource(databases=[PG], image="UPPER/x")
    assert "spec.image: not an image reference: [registry/]name[:tag][@digest], the name in lowercase" in str(
        refused.value
    )


def test_the_operators_own_runtime_image_setting_is_an_image_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTOS_RUNTIME_IMAGE", "UPPER/x:1")
    with pytest.raises(pydantic.ValidationError, match="runtime_image"):
        OperatorSettings()
    monkeypatch.setenv("AGENTOS_RUNTIME_IMAGE", "registry.example.com/platform/agentos:2")
    assert OperatorSettings().runtime_image == "registry.example.com/platform/agentos:2"


def test_service_annotations_and_source_ranges_are_the_services_and_left_out_unless_asked() -> None:
    default = rendered(resource(databases=[PG]))["Service"]
    asked = rendered(
        resource(
            databases=[PG],
            service={
                "type": "LoadBalancer",
                "annotations": {"service.beta.kubernetes.io/aws-load-balancer-internal": "true"},
                "loadBalancerSourceRanges": ["10.0.0.0/8", "fd00::/64"],
            },
        )
    )["Service"]

    assert "annotations" not in default["metadata"] and "loadBalancerSourceRanges" not in default["spec"]
    assert asked["metadata"]["annotations"] == {"service.beta.kubernetes.io/aws-load-balancer-internal": "true"}
    assert asked["metadata"]["labels"] == default["metadata"]["labels"]
    assert asked["spec"]["loadBalancerSourceRanges"] == ["10.0.0.0/8", "fd00::/64"]


FROM_A_SECRET = {"secretKeyRef": {"name": "mine", "key": "value"}}


@pytest.mark.parametrize(
    ("variable", "fix"),
    [
        ({"name": "AGENTOS_DATA_DIR", "value": "/tmp"}, "their data is lost at every restart"),
        ({"name": "AGENTOS_METRICS_PORT", "value": "7777"}, "set spec.prometheus.port"),
        ({"name": "OPENAI_API_KEY", "valueFrom": FROM_A_SECRET}, "models[].apiKeySecretRef"),
        ({"name": "DATABASE_URL_MAIN", "valueFrom": FROM_A_SECRET}, "databases[].urlSecretRef"),
        ({"name": "OS_SECURITY_KEY", "valueFrom": FROM_A_SECRET}, "securityKeySecretRef"),
    ],
)
def test_a_variable_the_operator_sets_may_not_be_replaced_through_spec_env(variable: dict[str, Any], fix: str) -> None:
    """Environment given in spec.env comes after the env Secret's and the operator's own, so it would win."""
    with pytest.raises(ConfigError) as refused:
        resource(env=[{"name": "LOG_FORMAT", "value": "json"}, variable])

    assert f"spec.env[1].name: '{variable['name']}' is set by the operator: " in str(refused.value)
    assert fix in str(refused.value)


def test_every_variable_the_operator_sets_for_the_examples_is_one_spec_env_may_not_replace() -> None:
    from tests.operator.offline.inputs import EXAMPLE_NAMES, example_secret_values, load_example

    for name in EXAMPLE_NAMES:
        body = load_example(name)
        manifests = render.render(parse_resource(body), example_secret_values(), settings=SETTINGS)
        [env] = [
            m for m in manifests if m["kind"] == "Secret" and m["metadata"]["name"] == f"{body['metadata']['name']}-env"
        ]
        [deployment] = [m for m in manifests if m["kind"] == "Deployment"]
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        users = {variable["name"] for variable in body["spec"].get("env") or []}
        ours = {variable["name"] for variable in container.get("env") or []} - users - {"AGENTOS_RUN_GRACE_SECONDS"}
        for variable in sorted(set(env["data"]) | ours):
            replaced = {**body, "spec": {**body["spec"], "env": [{"name": variable, "valueFrom": FROM_A_SECRET}]}}
            with pytest.raises(ConfigError, match="is set by the operator"):
                parse_resource(replaced)


def test_only_what_the_spec_makes_the_operator_set_is_kept_from_spec_env() -> None:
    # No SQLite: the data directory is the user's; no JWKS mounted: the file is the user's.
    kept = resource(
        databases=[PG],
        env=[{"name": "AGENTOS_DATA_DIR", "value": "/cache"}, {"name": "JWT_JWKS_FILE", "value": "/etc/jwks.json"}],
    )
    assert [v.name for v in kept.spec.env or []] == ["AGENTOS_DATA_DIR", "JWT_JWKS_FILE"]


@pytest.mark.parametrize("name", ["GITHUB_TOKEN", "SLACK_API_KEY", "db_password", "SERVICE_CREDENTIALS", "AWS_SECRET"])
def test_a_credential_given_as_a_literal_value_is_refused_with_the_way_to_reference_a_secret(name: str) -> None:
    with pytest.raises(ConfigError) as refused:
        resource(env=[{"name": name, "value": "hunter2"}])

    assert f"spec.env[0].value: '{name}' names a credential" in str(refused.value)
    assert "valueFrom.secretKeyRef" in str(refused.value) and "hunter2" not in str(refused.value)
    # Referenced, or a name that only mentions a key: fine.
    resource(env=[{"name": name, "valueFrom": FROM_A_SECRET}, {"name": "CACHE_KEY_PREFIX", "value": "agents"}])
