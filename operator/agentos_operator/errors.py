"""The operator's errors: one root, subclasses only where a caller decides differently.

Tree::

    OperatorError
    ├── MissingSecretsError     a Secret value that render needs is absent, or empty where one is needed
    ├── SecretsTooLargeError    the values render copies into one Secret are over what it holds
    └── ChildChangeRefusedError a change the API server would take but that could never be undone

Invalid resources are reported as ``agentos_runtime.config.ConfigError`` (every problem with
its field path), the same error the runtime raises for its file. Messages name Secrets and
keys, and the spec fields naming them (``referrers``), never their values.
"""

from __future__ import annotations

from collections.abc import Iterable

from agentos_operator.referrers import Named, fields, naming, secret_value_blank


class OperatorError(Exception):
    """Root of every error the operator raises on purpose."""


class MissingSecretsError(OperatorError):
    """Values render needs are absent (``refs``) or empty where a value is required (``empty``,
    those of ``only_whitespace`` holding whitespace alone): each (Secret name, key), sorted, said
    with the fields ``named_by`` says name it (``render.secret_referrers``)."""

    def __init__(
        self,
        refs: Iterable[tuple[str, str]],
        *,
        empty: Iterable[tuple[str, str]] = (),
        only_whitespace: Iterable[tuple[str, str]] = (),
        named_by: Named = (),
    ) -> None:
        self.refs: list[tuple[str, str]] = sorted(set(refs))
        self.empty: list[tuple[str, str]] = sorted(set(empty))
        whitespace = set(only_whitespace)
        parts = []
        if self.refs:
            listed = ", ".join(
                f"Secret '{name}' key '{key}'" + (f" ({fields(by)})" if (by := naming(named_by, name, key)) else "")
                for name, key in self.refs
            )
            parts.append(f"missing secret values: {listed}")
        parts += [
            secret_value_blank(name, key, naming(named_by, name, key), whitespace=(name, key) in whitespace)
            for name, key in self.empty
        ]
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


class ChildChangeRefusedError(OperatorError):
    """The spec asks a live child for a change the API server would make but that could never be
    taken back (``render.claim_class_problems``): refused before any write, ``problems`` naming
    the spec's fields and both ways out."""

    def __init__(self, problems: Iterable[object]) -> None:
        self.problems = [str(problem) for problem in problems]
        super().__init__("; ".join(self.problems))
