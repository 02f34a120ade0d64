"""The config hash: one digest of everything the pods read at start (config file and env Secret).

Placed on the pod template (``agentos.dev/config-hash``), it changes whenever the config or a
referenced Secret's value changes, so the Deployment rolls its pods; unchanged inputs keep it
identical, so nothing restarts needlessly.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

_HASHED_KINDS = ("ConfigMap", "Secret")


def config_hash(manifests: Iterable[Mapping[str, Any]]) -> str:
    """The sha256 (hex) over the data of the ConfigMaps and Secrets among ``manifests``; others are ignored."""
    parts = sorted(
        (m["kind"], m["metadata"]["name"], m.get("data") or {}) for m in manifests if m.get("kind") in _HASHED_KINDS
    )
    canonical = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
