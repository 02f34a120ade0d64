"""The operator's errors: one root, subclasses only where a caller decides differently.

Tree::

    OperatorError
    └── MissingSecretsError   a Secret (or one of its keys) that render needs is absent

Invalid resources are reported as ``agentos_runtime.config.ConfigError`` (every problem with
its field path), the same error the runtime raises for its file. Messages name Secrets and
keys, never their values.
"""

from __future__ import annotations

from collections.abc import Iterable


class OperatorError(Exception):
    """Root of every error the operator raises on purpose."""


class MissingSecretsError(OperatorError):
    """Values render needs are absent: ``refs`` lists each (Secret name, key), sorted."""

    def __init__(self, refs: Iterable[tuple[str, str]]) -> None:
        self.refs: list[tuple[str, str]] = sorted(set(refs))
        listed = ", ".join(f"Secret '{name}' key '{key}'" for name, key in self.refs)
        super().__init__(f"missing secret values: {listed}")
