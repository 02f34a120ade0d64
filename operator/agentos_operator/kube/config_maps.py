"""ConfigMaps that knowledge sources mount: checked to exist (with the keys listed), and digested.

The kubelet does not start a pod whose ConfigMap volume is missing or lacks a listed key; the
pods would wait in ``ContainerCreating`` with the reason only in their events. Read first, the
resource says it in its status instead, and nothing is written until they are there. Each
ConfigMap's content digest goes into the config hash, so a change of its files rolls the pods
(the runtime loads sources at start).

They are the user's ConfigMaps, outside the operator's label-selected watch: each is read from
the API server (``get``, which the chart grants on ConfigMaps), when the resource is reconciled;
a metadata-only watch of ConfigMaps (``watching``) reconciles every resource mounting one as
soon as it is created, changed or deleted. Only ConfigMaps in the resource's namespace are read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from agentos_operator import referrers, render
from agentos_operator.errors import OperatorError
from agentos_operator.kube.kinds import CONFIG_MAP
from agentos_operator.kube.store import Store


@dataclass
class UnresolvedConfigMapsError(OperatorError):
    """Mounted ConfigMaps that do not exist, and listed keys absent from those that do."""

    missing_config_maps: list[str] = field(default_factory=list)
    missing_keys: list[tuple[str, str]] = field(default_factory=list)
    held_keys: dict[str, list[str]] = field(default_factory=dict)
    """The keys each ConfigMap lacking one has, to say which the source could have meant."""
    named_by: render.ConfigMapReferrers = field(default_factory=lambda: render.ConfigMapReferrers({}, {}))
    """The fields naming each ConfigMap and listed key (``render.config_map_referrers``)."""

    def __str__(self) -> str:
        parts = [
            referrers.config_map_not_found(name, self.named_by.config_maps.get(name, ()))
            for name in self.missing_config_maps
        ]
        parts += [
            referrers.config_map_key_missing(
                name, key, self.named_by.keys.get((name, key), ()), self.held_keys.get(name, ())
            )
            for name, key in self.missing_keys
        ]
        return "; ".join(parts)


async def read_config_map_digests(
    store: Store,
    namespace: str,
    wanted: Mapping[str, frozenset[str]],
    *,
    named_by: render.ConfigMapReferrers | None = None,
) -> dict[str, str]:
    """``content_digest`` of each ConfigMap in ``wanted`` (name -> keys it must hold).

    Raises ``UnresolvedConfigMapsError`` listing every one missing and every key absent, with the
    fields ``named_by`` says name them.
    """
    digests: dict[str, str] = {}
    problem = UnresolvedConfigMapsError(named_by=named_by or render.ConfigMapReferrers({}, {}))
    for name, keys in sorted(wanted.items()):
        body = await store.get(CONFIG_MAP, namespace, name)
        if body is None:
            problem.missing_config_maps.append(name)
            continue
        present = {*(body.get("data") or {}), *(body.get("binaryData") or {})}
        absent = [(name, key) for key in sorted(keys - present)]
        if absent:
            problem.missing_keys += absent
            problem.held_keys[name] = [str(key) for key in present]
        digests[name] = render.content_digest(body)
    if problem.missing_config_maps or problem.missing_keys:
        raise problem
    return digests
