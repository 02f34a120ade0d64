"""The config hash: one digest of everything the pods read at start (config file, env Secret,
the ConfigMaps knowledge sources mount, the Secret keys MCP sidecars read).

Placed on the pod template (``agentos.dev/config-hash``), it changes whenever the config, a
referenced Secret's value or a mounted ConfigMap's content changes, so the Deployment rolls its
pods; unchanged inputs keep it identical, so nothing restarts needlessly.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

_HASHED_KINDS = ("ConfigMap", "Secret")


def config_hash(
    manifests: Iterable[Mapping[str, Any]],
    *,
    mounted: Mapping[str, str] | None = None,
    referenced: Mapping[tuple[str, str], str] | None = None,
) -> str:
    """The sha256 (hex) over the data of the ConfigMaps and Secrets among ``manifests``; others are ignored.

    ``mounted``: ConfigMap name -> ``content_digest`` of each ConfigMap the pods mount; without
    any, the hash is what it was before knowledge sources existed (no pod rolls on upgrade).
    ``referenced``: (Secret, key) -> value of each key a container reads straight from a Secret
    the resource references (an MCP sidecar's variables); without any, the hash is unchanged too.
    """
    parts: list[Any] = sorted(
        (m["kind"], m["metadata"]["name"], m.get("data") or {}) for m in manifests if m.get("kind") in _HASHED_KINDS
    )
    if mounted:
        parts.append(("MountedConfigMaps", dict(sorted(mounted.items()))))
    if referenced:
        parts.append(("ReferencedSecrets", [[name, key, value] for (name, key), value in sorted(referenced.items())]))
    canonical = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def content_digest(config_map: Mapping[str, Any]) -> str:
    """The sha256 (hex) of a ConfigMap's files: its ``data`` and ``binaryData``, nothing of its metadata."""
    files = {"data": config_map.get("data") or {}, "binaryData": config_map.get("binaryData") or {}}
    canonical = json.dumps(files, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
