"""Drift: does a live object already hold everything the operator wants in it?

Pure. The API server adds defaults, status and other managers' fields (an autoscaler's
``replicas``); none of those is drift. Only a field the operator sets that is missing or
different is, and only then is the object written: a reconcile that changes nothing writes
nothing. A field the operator *stopped* setting is found through ``stamped``: each applied
manifest carries a digest of itself, so any change to what is desired, removals included,
differs from the live object and is applied (server-side apply then drops the released field).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from agentos_operator import GROUP

APPLIED_ANNOTATION = f"{GROUP}/applied"


def holds(live: Any, desired: Any) -> bool:
    """Whether ``live`` contains ``desired``: every desired key present and equal, lists item by item."""
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            return False
        return all(holds(live.get(key), value) for key, value in desired.items())
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            return False
        return all(holds(item, wanted) for item, wanted in zip(live, desired, strict=True))
    if desired is None:
        return live is None
    return bool(live == desired)


def comparable(desired: Mapping[str, Any]) -> dict[str, Any]:
    """``desired`` as the API server stores it: a Secret's ``stringData`` becomes base64 ``data``."""
    result = dict(desired)
    if result.get("kind") == "Secret" and result.get("stringData"):
        data = dict(result.get("data") or {})
        for key, value in result.pop("stringData").items():
            data[key] = base64.b64encode(str(value).encode()).decode("ascii")
        result["data"] = data
    return result


def drifted(live: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> bool:
    """Whether ``desired`` must be applied: the object is absent or lacks some of it."""
    if live is None:
        return True
    wanted = comparable(desired)
    wanted.pop("apiVersion", None)  # the same object is readable under several API versions
    return not holds(live, wanted)


def stamped(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """``manifest`` with the sha256 of its own content in the ``agentos.dev/applied`` annotation."""
    canonical = json.dumps(manifest, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    metadata = dict(manifest.get("metadata") or {})
    metadata["annotations"] = {
        **(metadata.get("annotations") or {}),
        APPLIED_ANNOTATION: hashlib.sha256(canonical.encode()).hexdigest(),
    }
    return {**manifest, "metadata": metadata}
