"""The operator started with a runtime image of the platform team's (the chart's ``runtimeImage``),
on a real control plane.

The chart gives the operator the image in ``AGENTOS_RUNTIME_IMAGE``; the operator is started
with what the installed chart's Deployment says. A resource naming no ``spec.image`` runs that
image, and tools that are neither built in nor an MCP server's are left to that image's runtime
(it may install its own), as with a ``spec.image`` of one's own. A resource naming the bundled
image is checked against the bundled image's tools. One operator serves the file's tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from agentos_operator import render

from tests.cluster.conftest import (
    ControlPlane,
    Installed,
    OperatorProcess,
    add_secrets,
    agentos_body,
    fresh_namespace,
    installing,
    wait_settled,
    wait_until_condition,
)
from tests.cluster.test_competing_writers import troubles

REPOSITORY = "registry.example/platform/agentos-runtime"
TAG = "7.1-with-tools"
PLATFORM_IMAGE = f"{REPOSITORY}:{TAG}"
OWN_TOOL = [{"id": "a", "model": "gpt-4o-mini", "tools": ["company_search"], "toolConfig": {"company_search": {}}}]


@pytest.fixture(scope="module")
def platform(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Installed, OperatorProcess, str]]:
    """The chart installed with the platform's runtime image, its operator started as the chart's
    Deployment would start it, in one namespace shared by the file."""
    values = ("--set", f"runtimeImage.repository={REPOSITORY}", "--set", f"runtimeImage.tag={TAG}")
    with (
        fresh_namespace(control_plane) as namespace,
        installing(control_plane, tmp_path_factory.mktemp("runtime-image")) as install,
    ):
        installed = install(namespace, values=values)
        [chart_deployment] = control_plane.items(
            "deployments", installed.release_namespace, "-l", f"app.kubernetes.io/instance={installed.release}"
        )
        env = {v["name"]: v.get("value") for v in chart_deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["AGENTOS_RUNTIME_IMAGE"] == PLATFORM_IMAGE, "the chart gives the operator its runtimeImage"
        operator = installed.start(AGENTOS_RUNTIME_IMAGE=env["AGENTOS_RUNTIME_IMAGE"])
        add_secrets(control_plane, namespace)
        yield installed, operator, namespace


def runtime_container(cluster: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    deployment = cluster.get("deployment", name, namespace) or {}
    found: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return found


def test_the_operator_says_at_its_start_which_image_resources_naming_none_get(
    platform: tuple[Installed, OperatorProcess, str],
) -> None:
    _, operator, namespace = platform
    first = json.loads(operator.output().splitlines()[0])
    assert first["message"] == (
        f"serving AgentOSConfig resources in namespaces {namespace} only (resources elsewhere get no status);"
        f" runtime image for resources naming none: {PLATFORM_IMAGE}"
    )


def test_a_resource_naming_no_image_runs_the_platforms_and_its_own_tools_are_left_to_that_runtime(
    control_plane: ControlPlane, platform: tuple[Installed, OperatorProcess, str]
) -> None:
    installed, operator, namespace = platform
    logged = len(operator.output())

    control_plane.apply(agentos_body("platform", agents=OWN_TOOL), namespace)

    wait_settled(control_plane, namespace, "platform")
    assert runtime_container(control_plane, namespace, "platform")["image"] == PLATFORM_IMAGE
    config = (control_plane.get("configmap", "platform-config", namespace) or {})["data"]
    assert "company_search" in json.dumps(config), "the tool is in the runtime's config, for its runtime to check"
    assert troubles(operator, logged) == []
    assert installed.refused() == []


def test_a_resource_naming_an_image_runs_it_and_the_bundled_image_is_checked_for_its_tools(
    control_plane: ControlPlane, platform: tuple[Installed, OperatorProcess, str]
) -> None:
    _, _, namespace = platform
    control_plane.apply(agentos_body("own", image="registry.example/team/runtime:3"), namespace)
    control_plane.apply(agentos_body("bundled", image=render.DEFAULT_RUNTIME_IMAGE, agents=OWN_TOOL), namespace)

    ready = wait_until_condition(control_plane, namespace, "Ready", name="bundled", reason="InvalidSpec")
    assert ready["message"].startswith("spec.agents[0].tools[0]: unknown tool 'company_search': known tools are")
    assert "set spec.image to the runtime image that installs it" in ready["message"]
    assert control_plane.get("deployment", "bundled", namespace) is None
    wait_settled(control_plane, namespace, "own")
    assert runtime_container(control_plane, namespace, "own")["image"] == "registry.example/team/runtime:3"
