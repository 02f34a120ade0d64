"""Knowledge bases in the rendered children: their runtime config entries and their mounted sources.

A source read from a ConfigMap (or a PersistentVolumeClaim) is a read-only volume of the runtime
pods, mounted at ``/var/lib/agentos/knowledge/<base id>/<source index>``; the runtime file names
that directory as the source's ``path`` (every key, or the listed ``items``, a file of its name;
the claim's files, or those under its ``subPath``). An
embedder's key becomes the variable ``environment`` chose for it (``api_key_env``), so the
file holds no secret.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from agentos_operator.render.environment import Environment
from agentos_operator.resources import AgentOSResource
from agentos_operator.spec import ConfigMapFiles, KnowledgeBaseSpec, KnowledgeSourceSpec, VolumeFiles

# Beside the config (/etc/agentos) and the data volume (/data), never inside them: a volume mounted
# inside another one is hidden by it, or hides part of it.
KNOWLEDGE_DIR = "/var/lib/agentos/knowledge"


@dataclass(frozen=True)
class MountedSource:
    """A ConfigMap or volume source: the pod volume holding its files and where the runtime finds them."""

    volume: str
    directory: str
    field: str
    """The source's path in the spec: ``spec.knowledgeBases[0].sources[1]``."""
    config_map: ConfigMapFiles | None = None
    claim: VolumeFiles | None = None


def mounted_sources(resource: AgentOSResource) -> Iterator[MountedSource]:
    """Each ConfigMap or volume source of each base, in declaration order.

    Volume names are ``knowledge-<base index>-<source index>``: a DNS label whatever the ids' length.
    """
    for base_index, base in enumerate(resource.spec.knowledge_bases):
        for index, source in enumerate(base.sources):
            if source.config_map is not None or source.persistent_volume_claim is not None:
                yield MountedSource(
                    volume=f"knowledge-{base_index}-{index}",
                    directory=f"{KNOWLEDGE_DIR}/{base.id}/{index}",
                    field=f"spec.knowledgeBases[{base_index}].sources[{index}]",
                    config_map=source.config_map,
                    claim=source.persistent_volume_claim,
                )


def required_config_maps(resource: AgentOSResource) -> dict[str, frozenset[str]]:
    """Each ConfigMap the sources mount, by name, with the keys that must be in it (those listed in ``items``).

    The kubelet does not start a pod whose ConfigMap volume is missing, or lacks a listed key.
    """
    wanted: dict[str, frozenset[str]] = {}
    for source in mounted_sources(resource):
        if source.config_map is None:
            continue
        keys = frozenset(source.config_map.items or ())
        wanted[source.config_map.name] = wanted.get(source.config_map.name, frozenset()) | keys
    return dict(sorted(wanted.items()))


@dataclass(frozen=True)
class ConfigMapReferrers:
    """The fields naming each ConfigMap the sources mount, and each key they list, in spec order."""

    config_maps: dict[str, tuple[str, ...]]
    keys: dict[tuple[str, str], tuple[str, ...]]


def config_map_referrers(resource: AgentOSResource) -> ConfigMapReferrers:
    """The fields behind ``required_config_maps``: ``...sources[1].configMap`` for a ConfigMap,
    ``...sources[1].configMap.items[0]`` for a key it must hold."""
    config_maps: dict[str, tuple[str, ...]] = {}
    keys: dict[tuple[str, str], tuple[str, ...]] = {}
    for source in mounted_sources(resource):
        if source.config_map is None:
            continue
        name = source.config_map.name
        config_maps[name] = (*config_maps.get(name, ()), f"{source.field}.configMap")
        for index, key in enumerate(source.config_map.items or ()):
            keys[(name, key)] = (*keys.get((name, key), ()), f"{source.field}.configMap.items[{index}]")
    return ConfigMapReferrers(config_maps, keys)


def knowledge_volumes(resource: AgentOSResource) -> list[dict[str, Any]]:
    """The pod's ``configMap`` and ``persistentVolumeClaim`` volumes of the knowledge sources."""
    volumes: list[dict[str, Any]] = []
    for source in mounted_sources(resource):
        if source.claim is not None:
            claim = {"claimName": source.claim.claim_name, "readOnly": True}
            volumes.append({"name": source.volume, "persistentVolumeClaim": claim})
            continue
        assert source.config_map is not None  # a mounted source is one or the other
        config_map: dict[str, Any] = {"name": source.config_map.name}
        if source.config_map.items is not None:
            config_map["items"] = [{"key": key, "path": key} for key in source.config_map.items]
        volumes.append({"name": source.volume, "configMap": config_map})
    return volumes


def knowledge_mounts(resource: AgentOSResource) -> list[dict[str, Any]]:
    """The runtime container's read-only mounts of those volumes."""
    mounts: list[dict[str, Any]] = []
    for source in mounted_sources(resource):
        mount: dict[str, Any] = {"name": source.volume, "mountPath": source.directory, "readOnly": True}
        if source.claim is not None and source.claim.sub_path is not None:
            mount["subPath"] = source.claim.sub_path
        mounts.append(mount)
    return mounts


def knowledge_base_entries(resource: AgentOSResource, environment: Environment) -> list[dict[str, Any]]:
    """``knowledge_bases`` of the runtime file: keys as variables, ConfigMaps as paths."""
    directories = iter(source.directory for source in mounted_sources(resource))
    return [_base_entry(base, environment, directories) for base in resource.spec.knowledge_bases]


def _base_entry(base: KnowledgeBaseSpec, environment: Environment, directories: Iterator[str]) -> dict[str, Any]:
    entry = base.model_dump(mode="json", by_alias=False, exclude_defaults=True, exclude={"embedder", "sources"})
    embedder = base.embedder.model_dump(
        mode="json", by_alias=False, exclude_defaults=True, exclude={"api_key_secret_ref"}
    )
    # Always written: the runtime's default variable (OPENAI_API_KEY) is not what an omitted reference means.
    entry["embedder"] = {**embedder, "api_key_env": environment.knowledge_env[base.id]}
    sources = [_source_entry(source, directories) for source in base.sources]
    if sources:
        entry["sources"] = sources
    return entry


def _source_entry(source: KnowledgeSourceSpec, directories: Iterator[str]) -> dict[str, Any]:
    entry = source.model_dump(
        mode="json", by_alias=False, exclude_defaults=True, exclude={"config_map", "persistent_volume_claim"}
    )
    if source.config_map is not None or source.persistent_volume_claim is not None:
        entry["path"] = next(directories)
    return entry
