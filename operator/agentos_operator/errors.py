"""The operator's errors: one root, subclasses only where a caller decides differently.

Tree::

    OperatorError
    ├── MissingSecretsError     a Secret (or one of its keys) that render needs is absent
    └── SecretsTooLargeError    the values render copies into one Secret are over what it holds

Invalid resources are reported as ``agentos_runtime.config.ConfigError`` (every problem with
its field path), the same error the runtime raises for its file. Messages name Secrets and
keys, never their values.
"""

from __future__ import annotations

from collections.abc import Iterable


class OperatorError(Exception):
    """Root of every error the operator raises on purpose."""


class MissingSecretsError(OperatorError):
    """Values render needs are absent (``refs``) or empty where a value is required (``empty``):
    each (Secret name, key), sorted."""

    def __init__(self, refs: Iterable[tuple[str, str]], *, empty: Iterable[tuple[str, str]] = ()) -> None:
        self.refs: list[tuple[str, str]] = sorted(set(refs))
        self.empty: list[tuple[str, str]] = sorted(set(empty))
        parts = []
        if self.refs:
            parts.append(
                "missing secret values: " + ", ".join(f"Secret '{name}' key '{key}'" for name, key in self.refs)
            )
        if self.empty:
            listed = ", ".join(f"Secret '{name}' key '{key}'" for name, key in self.empty)
            parts.append(
                f"empty secret values (an MCP header or env value must not be empty; put the value in the Secret): {listed}"
            )
        super().__init__("; ".join(parts))


# The API server's limit on a Secret's data (keys and values, in bytes), as on a ConfigMap's.
SECRET_MAX_BYTES = 1024 * 1024


class SecretsTooLargeError(OperatorError):
    """The values copied into the ``<name>-env`` Secret take more than ``SECRET_MAX_BYTES``.

    ``largest`` is each copied value as (Secret name, key, variable, bytes), largest first: the
    message names the three largest, never a value."""

    def __init__(self, size: int, largest: Iterable[tuple[str, str, str, int]]) -> None:
        self.size = size
        self.largest = list(largest)
        named = ", ".join(
            f"Secret '{name}' key '{key}' as {variable} ({size_of} bytes)"
            for name, key, variable, size_of in self.largest[:3]
        )
        super().__init__(
            f"the values copied from the referenced Secrets take {size} bytes, over the {SECRET_MAX_BYTES} (1 MiB) "
            f"the API server accepts in one Secret; the largest: {named}: store smaller values"
        )
