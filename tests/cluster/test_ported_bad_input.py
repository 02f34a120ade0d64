"""Bad input on a real API server never crash-loops and never half-applies: an invalid spec the
API server accepts (the operator's checks go further than the CRD's), a missing Secret or key, a
child's name taken by someone else, a paused resource: each is reported, then fixed by the next
change. Secret values never reach the status, the events or the logs, even at DEBUG."""

from __future__ import annotations

import base64
import json

from agentos_operator import render

from tests.cluster.conftest import (
    POSTGRES,
    ControlPlane,
    InstallOperator,
    add_secrets,
    agentos_body,
    child_versions,
    condition,
    create_secret,
    eventually,
    operator_running,
    running_and_ready,
    wait_settled,
    wait_until_condition,
    warnings_about,
)

# Accepted by the CRD's schema and CEL rules; the operator refuses an agent naming no declared model.
UNKNOWN_MODEL = [{"id": "assistant", "model": "gpt-5", "instructions": ["Be brief."]}]


def ready_reason(cluster: ControlPlane, namespace: str, name: str) -> str:
    return str(condition(cluster.get("agentosconfig", name, namespace), "Ready").get("reason", ""))


def patch_secret(cluster: ControlPlane, namespace: str, name: str, **data: str) -> None:
    string_data = {key.replace("_", "-"): value for key, value in data.items()}
    cluster.run("patch", "secret", name, "-n", namespace, "--type=merge", "-p", json.dumps({"stringData": string_data}))


def test_an_invalid_edit_sets_ready_false_with_the_field_path_and_leaves_children_untouched(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    operator, _ = running_and_ready(control_plane, namespace, install_operator)
    before = child_versions(control_plane, namespace, "demo")

    control_plane.apply(agentos_body("demo", agents=UNKNOWN_MODEL), namespace)

    wait_until_condition(control_plane, namespace, "Ready", reason="InvalidSpec")
    body = control_plane.get("agentosconfig", "demo", namespace)
    ready = condition(body, "Ready")
    assert ready["status"] == "False"
    assert "spec.agents[0].model" in ready["message"] and "gpt-5" in ready["message"], ready["message"]
    # Nothing was written: the pods of the valid spec serve, and the status says so.
    assert ready["message"].endswith("; the previous pods serve meanwhile"), ready["message"]
    assert condition(body, "Degraded")["status"] == "True"
    assert body is not None and body["status"]["observedGeneration"] == 2
    assert child_versions(control_plane, namespace, "demo") == before, "a child changed under an invalid spec"
    eventually(lambda: warnings_about(control_plane, namespace, "demo"), what="the Warning event")
    assert warnings_about(control_plane, namespace, "demo") == [("InvalidSpec", ready["message"])]
    assert operator.reconciles("invalid") <= 2  # a permanent error: not retried


def test_an_invalid_spec_is_not_retried_and_warns_once(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    _, operator = operator_running(control_plane, namespace, install_operator, "--resync-seconds=0.2")

    control_plane.apply(agentos_body("demo", agents=UNKNOWN_MODEL), namespace)

    eventually(lambda: operator.reconciles("invalid") >= 6, what="several resyncs of the invalid resource")
    ready = condition(control_plane.get("agentosconfig", "demo", namespace), "Ready")
    assert ready["reason"] == "InvalidSpec" and "spec.agents[0].model" in ready["message"]
    assert warnings_about(control_plane, namespace, "demo") == [("InvalidSpec", ready["message"])]
    assert control_plane.get("deployment", "demo", namespace) is None
    assert control_plane.get("secret", "demo-env", namespace) is None


def test_tools_the_runtime_would_refuse_at_its_start_are_an_invalid_spec_not_a_crash_loop(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    """The API server accepts these (tool names and settings are free-form in the CRD); the
    runtime refuses them at its start. Each is named at its field, and no pod is made. The
    operator runs the bundled runtime image by default here: it installs no tools of its own, so
    an unknown name is refused (another image's tools are left to its runtime)."""
    operator_running(
        control_plane, namespace, install_operator, env={"AGENTOS_RUNTIME_IMAGE": render.DEFAULT_RUNTIME_IMAGE}
    )
    agents = [
        {"id": "a", "model": "gpt-4o-mini", "tools": ["calculater"]},
        {"id": "b", "model": "gpt-4o-mini", "tools": ["http_get"]},
        {
            "id": "c",
            "model": "gpt-4o-mini",
            "tools": ["http_get"],
            "toolConfig": {"http_get": {"allowedHosts": ["x.io"]}},
        },
    ]

    control_plane.apply(agentos_body("demo", agents=agents), namespace)

    ready = wait_until_condition(control_plane, namespace, "Ready", reason="InvalidSpec")
    assert ready["status"] == "False"
    assert [line.split(": ")[0] for line in ready["message"].split("; ")] == [
        "spec.agents[2].toolConfig.http_get.allowedHosts",
        "spec.agents[0].tools[0]",
        "spec.agents[1].toolConfig.http_get.allowed_hosts",
    ], ready["message"]
    assert "unknown tool 'calculater'" in ready["message"] and "write allowed_hosts" in ready["message"]
    assert control_plane.get("deployment", "demo", namespace) is None


def test_the_next_valid_edit_fixes_an_invalid_resource(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    running_and_ready(control_plane, namespace, install_operator)
    control_plane.apply(agentos_body("demo", agents=UNKNOWN_MODEL), namespace)
    wait_until_condition(control_plane, namespace, "Ready", reason="InvalidSpec")

    fixed = [{"id": "assistant", "model": "gpt-4o-mini", "instructions": ["Be kind."]}]
    control_plane.apply(agentos_body("demo", agents=fixed), namespace)

    eventually(
        lambda: "Be kind." in str(control_plane.get("configmap", "demo-config", namespace)), what="the fix applied"
    )
    body = wait_settled(control_plane, namespace, "demo")
    assert body["status"]["observedGeneration"] == 3
    assert condition(body, "Degraded")["status"] == "False"


OPENAI_NOT_FOUND = "Secret 'openai' not found (spec.models[0].apiKeySecretRef): create it in the resource's namespace"


def test_a_missing_secret_is_reported_and_recovers_when_it_appears(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    install_operator(namespace).start()

    control_plane.apply(agentos_body("demo"), namespace)

    unresolved = wait_until_condition(control_plane, namespace, "ReferencesResolved", status="False")
    assert (unresolved["reason"], unresolved["message"]) == ("SecretNotFound", OPENAI_NOT_FOUND)
    assert ready_reason(control_plane, namespace, "demo") == "SecretNotFound"
    eventually(lambda: warnings_about(control_plane, namespace, "demo"), what="the Warning event")
    assert warnings_about(control_plane, namespace, "demo") == [("SecretNotFound", OPENAI_NOT_FOUND)]
    assert control_plane.get("deployment", "demo", namespace) is None
    assert control_plane.get("configmap", "demo-config", namespace) is None

    add_secrets(control_plane, namespace)

    body = wait_settled(control_plane, namespace, "demo")
    assert condition(body, "ReferencesResolved")["status"] == "True"


def test_a_missing_secret_key_is_reported_and_recovers_when_it_is_added(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    install_operator(namespace).start()
    create_secret(control_plane, namespace, "openai", token="sk-test-1")

    control_plane.apply(agentos_body("demo"), namespace)

    wait_until_condition(control_plane, namespace, "Ready", reason="SecretKeyMissing")
    resolved = condition(control_plane.get("agentosconfig", "demo", namespace), "ReferencesResolved")
    assert resolved["message"] == (
        "Secret 'openai' has no key 'api-key' (spec.models[0].apiKeySecretRef); its keys: 'token': "
        "add it, or name one it has"
    )

    patch_secret(control_plane, namespace, "openai", api_key="sk-test-1")

    wait_settled(control_plane, namespace, "demo")


def test_a_paused_resource_is_left_alone_and_says_so(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    running_and_ready(control_plane, namespace, install_operator)
    config_map = control_plane.get("configmap", "demo-config", namespace)
    edit = [{"id": "assistant", "model": "gpt-4o-mini", "instructions": ["Changed."]}]

    control_plane.apply(agentos_body("demo", paused=True, agents=edit), namespace)
    wait_until_condition(control_plane, namespace, "Progressing", reason="Paused")
    control_plane.run("delete", "deployment", "demo", "-n", namespace)
    wait_until_condition(control_plane, namespace, "Ready", status="False")  # following the pods

    assert control_plane.get("configmap", "demo-config", namespace) == config_map
    assert control_plane.get("deployment", "demo", namespace) is None
    assert ready_reason(control_plane, namespace, "demo") == "Paused"

    control_plane.apply(agentos_body("demo", paused=False, agents=edit), namespace)

    wait_settled(control_plane, namespace, "demo")
    assert "Changed." in str(control_plane.get("configmap", "demo-config", namespace))


def test_secret_values_never_reach_status_events_or_logs(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    operator = install_operator(namespace).start("--log-level=DEBUG")
    create_secret(control_plane, namespace, "openai", token="sk-very-secret-value")
    control_plane.apply(agentos_body("demo"), namespace)
    wait_until_condition(control_plane, namespace, "Ready", reason="SecretKeyMissing")
    patch_secret(control_plane, namespace, "openai", api_key="sk-very-secret-value")
    wait_settled(control_plane, namespace, "demo")
    key = control_plane.get("secret", "demo-security-key", namespace)
    assert key is not None
    generated = base64.b64decode(key["data"]["security-key"]).decode()

    log = operator.output()
    assert '"severity": "debug"' in log  # the DEBUG lines were written
    visible = [
        control_plane.get("agentosconfig", "demo", namespace),
        control_plane.get("configmap", "demo-config", namespace),
        control_plane.items("events", namespace),
    ]
    for secret in ("sk-very-secret-value", generated):
        for form in (secret, base64.b64encode(secret.encode()).decode()):
            assert form not in str(visible)
            assert form not in log


def test_a_child_name_taken_by_another_owner_is_reported_and_left_alone(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    add_secrets(control_plane, namespace)
    control_plane.run("create", "configmap", "demo-config", "-n", namespace, "--from-literal=mine=yes")
    install_operator(namespace).start()

    control_plane.apply(agentos_body("demo"), namespace)

    wait_until_condition(control_plane, namespace, "Degraded", reason="ChildConflict")
    message = condition(control_plane.get("agentosconfig", "demo", namespace), "Ready")["message"]
    assert "ConfigMap 'demo-config' exists and is not owned by this AgentOSConfig" in message, message
    squatter = control_plane.get("configmap", "demo-config", namespace)
    assert squatter is not None and squatter["data"] == {"mine": "yes"}
    assert not squatter["metadata"].get("ownerReferences")
    assert control_plane.get("deployment", "demo", namespace) is None  # nothing after the conflict was applied
    eventually(
        lambda: [w for w in warnings_about(control_plane, namespace, "demo") if w[0] == "ChildConflict"],
        what="the ChildConflict Warning",
    )

    control_plane.run("delete", "configmap", "demo-config", "-n", namespace)

    wait_settled(control_plane, namespace, "demo")


def test_a_security_key_secret_planted_beforehand_is_never_used_as_the_key(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    # Whoever made it knows the key: pods once started with it, Ready, no word said.
    add_secrets(control_plane, namespace)
    create_secret(control_plane, namespace, "demo-security-key", security_key="planted-key")
    install_operator(namespace).start()

    control_plane.apply(agentos_body("demo"), namespace)

    message = wait_until_condition(control_plane, namespace, "Ready", reason="ChildConflict")["message"]
    assert message == (
        "Secret 'demo-security-key' exists and is not owned by this AgentOSConfig: "
        "delete it, or name it in spec.securityKeySecretRef to use its key"
    )
    assert control_plane.get("deployment", "demo", namespace) is None

    control_plane.run("delete", "secret", "demo-security-key", "-n", namespace)

    wait_settled(control_plane, namespace, "demo")
    generated = control_plane.get("secret", "demo-security-key", namespace)
    assert generated is not None and generated["metadata"]["ownerReferences"][0]["name"] == "demo"
    key = base64.b64decode(generated["data"]["security-key"]).decode()
    assert key != "planted-key"


def test_values_too_large_for_the_env_secret_are_named_and_recover_when_stored_smaller(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    # Each under a Secret's 1 MiB, together over it: the API server once refused the copy with
    # "Invalid: fix the spec", naming nothing.
    for name, key, value in (("openai", "api-key", "k" * 600_000), ("pg", "uri", "postgresql://db/" + "d" * 600_000)):
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": {key: value}}
        control_plane.apply(secret, namespace)  # through stdin: too long for a command line
    install_operator(namespace).start()

    control_plane.apply(agentos_body("demo", databases=POSTGRES), namespace)

    message = wait_until_condition(control_plane, namespace, "Ready", reason="SecretTooLarge")["message"]
    assert "over the 1048576 (1 MiB) the API server accepts in one Secret" in message, message
    assert "Secret 'openai' key 'api-key' as OPENAI_API_KEY (600000 bytes)" in message, message
    assert "kkkk" not in message and "dddd" not in message
    assert control_plane.get("secret", "demo-env", namespace) is None

    patch_secret(control_plane, namespace, "openai", api_key="sk-test-1")

    wait_settled(control_plane, namespace, "demo")
