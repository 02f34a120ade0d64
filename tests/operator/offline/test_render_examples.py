"""Every example renders to committed golden manifests that Kubernetes' schemas accept.

Set UPDATE_GOLDEN=1 to rewrite the golden files after an intended change, then review the diff.
"""

import os

import kubernetes_validate
import pytest
from agentos_operator import render
from agentos_operator.resources import parse_resource
from agentos_runtime.config import parse_config_text

from tests.operator.offline.inputs import FIXED_UID, GOLDEN, example_secret_values, load_example

SETTINGS = render.RenderSettings(default_image="ghcr.io/kube-agentos/runtime:0.1.0")
KUBERNETES_VERSIONS = ("1.31.0", "1.35.0")


def render_example(name: str) -> list[dict]:
    body = load_example(name)
    body["metadata"]["uid"] = FIXED_UID
    return render.render(parse_resource(body), example_secret_values(), settings=SETTINGS)


def test_the_rendering_of_each_example_matches_its_golden_file(example_name: str) -> None:
    text = render.dump_manifests(render_example(example_name))
    golden = GOLDEN / f"{example_name}.yaml"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"no golden file: run UPDATE_GOLDEN=1 pytest {__file__}"
    assert text == golden.read_text(encoding="utf-8"), "rendering changed: review, then UPDATE_GOLDEN=1"


def test_rendering_twice_gives_byte_identical_output(example_name: str) -> None:
    text = render.dump_manifests(render_example(example_name))
    assert text == render.dump_manifests(render_example(example_name))
    assert "&id" not in text and "*id" not in text, "YAML anchors make manifests hard to read and diff"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_rendered_manifest_passes_the_strict_kubernetes_schema(example_name: str, version: str) -> None:
    assert version in kubernetes_validate.utils.all_versions()
    for manifest in render_example(example_name):
        kubernetes_validate.validate(manifest, version, strict=True)


def test_the_rendered_config_map_is_a_config_the_runtime_loads(example_name: str) -> None:
    (config_map,) = [m for m in render_example(example_name) if m["kind"] == "ConfigMap"]
    config = parse_config_text(config_map["data"]["config.yaml"])
    spec = load_example(example_name)["spec"]
    assert [a.id for a in config.agents] == [a["id"] for a in spec["agents"]]
    assert config.os_id == spec.get("osId", load_example(example_name)["metadata"]["name"])


def test_manifests_are_sorted_by_kind_order_then_name(example_name: str) -> None:
    manifests = render_example(example_name)
    keys = [(render.KIND_ORDER.index(m["kind"]), m["metadata"]["name"]) for m in manifests]
    assert keys == sorted(keys)


def test_the_schema_check_catches_a_broken_deployment() -> None:
    (deployment,) = [m for m in render_example("minimal-sqlite") if m["kind"] == "Deployment"]
    deployment["spec"]["replicas"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)
    deployment["spec"]["replicas"] = 1
    deployment["spec"]["template"]["spec"]["hostNetwrk"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


def test_no_example_names_a_namespace_so_it_lands_beside_the_secrets_applied_with_it(example_name: str) -> None:
    # `kubectl -n team-a apply -f examples/x.yaml` fails outright for an object naming another namespace.
    assert "namespace" not in load_example(example_name)["metadata"]
