"""Manifests as YAML text: multi-document, sorted keys, multi-line strings as literal blocks.

The one serialiser of rendered manifests, so ``agentos render``, golden files and anything
comparing output byte for byte agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    """SafeDumper writing multi-line strings (the config file) as readable ``|`` blocks, never anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_manifests(manifests: Iterable[Mapping[str, Any]], *, header: str | None = None) -> str:
    """Multi-document YAML (``---`` between documents); ``header`` lines become leading comments."""
    text = "".join(
        "---\n" + yaml.dump(dict(manifest), Dumper=_Dumper, sort_keys=True, allow_unicode=True, width=120)
        for manifest in manifests
    )
    if header:
        text = "".join(f"# {line}\n" for line in header.splitlines()) + text
    return text
