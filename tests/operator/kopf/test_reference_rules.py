"""What a resource reads by name, and which events about those objects wake it: pure rules, no API.

The watches running them against the emulator: test_config_map_watch.py and test_secret_watch.py;
against a real API server: tests/cluster/test_knowledge_sources.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from agentos_operator.watching import (
    References,
    Versions,
    config_map_changed,
    news,
    referenced_config_maps,
    referenced_secrets,
)

OPENAI_KEY = {"name": "openai", "key": "api-key"}


def source(config_map: str, items: list[str] | None = None) -> dict[str, Any]:
    files: dict[str, Any] = {"name": config_map}
    if items is not None:
        files["items"] = items
    return {"configMap": files}


def body(
    name: str = "demo", *, namespace: str = "ns1", generation: int = 1, sources: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A valid AgentOSConfig whose one knowledge base reads ``sources`` (a ConfigMap 'handbook' unless given)."""
    base = {
        "id": "handbook",
        "embedder": {"apiKeySecretRef": {"name": "embedder", "key": "api-key"}},
        "sources": [source("handbook")] if sources is None else sources,
    }
    return {
        "apiVersion": "agentos.dev/v1alpha1",
        "kind": "AgentOSConfig",
        "metadata": {"name": name, "namespace": namespace, "generation": generation},
        "spec": {
            "models": [{"id": "gpt-4o-mini", "apiKeySecretRef": OPENAI_KEY}],
            "agents": [{"id": "assistant", "model": "gpt-4o-mini", "knowledge": "handbook"}],
            "knowledgeBases": [base],
        },
    }


def config_map(name: str, version: str, *, namespace: str = "ns1", **meta: Any) -> dict[str, Any]:
    """A ConfigMap as the metadata watch delivers it: metadata and nothing else."""
    return {"metadata": {"name": name, "namespace": namespace, "resourceVersion": version, **meta}}


def test_the_config_maps_a_resource_reads_are_those_its_sources_mount_each_once() -> None:
    sources = [
        source("handbook"),
        source("policies", ["leave.md"]),
        source("policies", ["travel.md"]),
        {"persistentVolumeClaim": {"claimName": "archive"}},
    ]

    assert referenced_config_maps(body(sources=sources)) == {"handbook", "policies"}
    assert referenced_secrets(body(sources=sources)) == {"openai", "embedder", "demo-security-key"}


def test_a_resource_without_knowledge_sources_reads_no_config_map_and_an_invalid_spec_reads_nothing() -> None:
    plain = body()
    del plain["spec"]["knowledgeBases"]
    del plain["spec"]["agents"][0]["knowledge"]
    invalid = body()
    invalid["spec"]["knowledgeBases"][0]["sources"] = [{"configMap": {"name": "handbook"}, "url": "https://x.example"}]

    assert referenced_config_maps(plain) == set()
    assert referenced_secrets(plain) == {"openai", "demo-security-key"}
    assert (referenced_config_maps(invalid), referenced_secrets(invalid)) == (set(), set())


def test_every_resource_mounting_a_config_map_reads_it_and_only_in_its_own_namespace() -> None:
    references = References()
    references.update(("ns1", "first"), body("first"))
    references.update(("ns1", "second"), body("second"))
    references.update(("ns2", "elsewhere"), body("elsewhere", namespace="ns2"))
    references.update(("ns1", "unrelated"), body("unrelated", sources=[source("faq")]))

    assert references.config_map_readers("ns1", "handbook") == [("ns1", "first"), ("ns1", "second")]
    assert references.config_map_readers("ns2", "handbook") == [("ns2", "elsewhere")]
    assert references.config_map_readers("ns1", "faq") == [("ns1", "unrelated")]
    assert references.config_map_readers("ns1", "openai") == []  # a Secret's name is no ConfigMap's
    assert references.secret_readers("ns1", "embedder") == [("ns1", "first"), ("ns1", "second"), ("ns1", "unrelated")]


def test_a_new_generation_moves_a_resource_to_the_config_maps_it_reads_now() -> None:
    references = References()
    references.update(("ns1", "demo"), body(generation=1))

    references.update(("ns1", "demo"), body(generation=2, sources=[source("faq")]))

    assert references.config_map_readers("ns1", "handbook") == []
    assert references.config_map_readers("ns1", "faq") == [("ns1", "demo")]


def test_the_same_generation_is_not_parsed_again_and_a_removed_resource_reads_nothing() -> None:
    references = References()
    references.update(("ns1", "demo"), body(generation=3))
    references.update(("ns1", "demo"), body(generation=3, sources=[source("faq")]))  # a status-only event

    assert references.config_map_readers("ns1", "handbook") == [("ns1", "demo")]
    references.remove(("ns1", "demo"))
    assert references.config_map_readers("ns1", "handbook") == []
    assert references.secret_readers("ns1", "openai") == []


@pytest.mark.parametrize(
    ("event_type", "version", "previous", "expected"),
    [
        ("ADDED", "7", None, True),  # created: a resource waiting for it resolves it
        ("MODIFIED", "8", "7", True),  # edited
        ("MODIFIED", "7", "7", False),  # the same version again (a watch resumed from before it)
        ("DELETED", "9", "8", True),
        ("DELETED", "9", None, True),
        (None, "7", None, False),  # first listing: each resource's own listing reconciles it
        (None, "7", "7", False),  # listed again, unchanged
        (None, "8", "7", True),  # listed again after a change the watch missed
    ],
)
def test_news_is_a_creation_a_new_version_or_a_deletion_and_never_a_first_or_unchanged_listing(
    event_type: str | None, version: str, previous: str | None, expected: bool
) -> None:
    assert news(event_type, version, previous) is expected


def test_versions_remember_each_object_until_it_is_deleted() -> None:
    versions = Versions()

    assert not versions.observe(None, config_map("handbook", "7"))
    assert not versions.observe(None, config_map("handbook", "7"))
    assert versions.observe(None, config_map("handbook", "8"))
    assert not versions.observe("MODIFIED", config_map("handbook", "8"))
    assert not versions.observe(None, config_map("handbook", "7", namespace="ns2"))  # another namespace's
    assert versions.observe("DELETED", config_map("handbook", "9"))
    assert not versions.observe(None, config_map("handbook", "10"))  # a new one, first seen by a listing


def test_a_change_of_a_config_map_wakes_every_resource_mounting_it_and_no_other() -> None:
    references = References()
    for name in ("first", "second"):
        references.update(("ns1", name), body(name))
    references.update(("ns1", "unrelated"), body("unrelated", sources=[source("faq")]))
    references.update(("ns2", "elsewhere"), body("elsewhere", namespace="ns2"))
    woken: list[tuple[str, str]] = []
    versions = Versions()

    config_map_changed(versions, references, woken.append, None, config_map("handbook", "7"))
    assert woken == []  # listed at start
    config_map_changed(versions, references, woken.append, "MODIFIED", config_map("handbook", "8"))
    assert woken == [("ns1", "first"), ("ns1", "second")]
    config_map_changed(versions, references, woken.append, "MODIFIED", config_map("handbook", "8"))
    assert woken == [("ns1", "first"), ("ns1", "second")]  # a repeat wakes no one
    config_map_changed(versions, references, woken.append, "DELETED", config_map("handbook", "9"))
    assert woken[2:] == [("ns1", "first"), ("ns1", "second")]
    config_map_changed(versions, references, woken.append, "ADDED", config_map("handbook", "10"))
    assert woken[4:] == [("ns1", "first"), ("ns1", "second")]


def test_a_config_map_nobody_mounts_wakes_no_one_even_the_operators_own_with_its_owner() -> None:
    references = References()
    references.update(("ns1", "demo"), body("demo"))
    owned = config_map(
        "demo-config",
        "12",
        labels={"app.kubernetes.io/managed-by": "agentos-operator", "app.kubernetes.io/instance": "demo"},
        ownerReferences=[
            {"apiVersion": "agentos.dev/v1alpha1", "kind": "AgentOSConfig", "name": "demo", "controller": True}
        ],
    )
    woken: list[tuple[str, str]] = []
    versions = Versions()

    for event_type in ("ADDED", "MODIFIED", "DELETED"):
        config_map_changed(versions, references, woken.append, event_type, {**owned})
        owned["metadata"]["resourceVersion"] = str(int(owned["metadata"]["resourceVersion"]) + 1)
    config_map_changed(versions, references, woken.append, "ADDED", config_map("bystander", "20"))

    assert woken == []  # its owner is woken by the children's watch, which sees its data
