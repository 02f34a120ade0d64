"""Which spec fields name a referenced Secret or ConfigMap, and how a problem with one is said.

A reference that cannot be resolved is said with the fields that name it (``spec.models[0].apiKeySecretRef``),
so the person reading the status knows what to change, and with the fix. The fields come from
the walk of the spec that collects the references (``render.secret_referrers``,
``render.config_map_referrers``), never guessed from a name. Pure: names and keys in, text out.

What a Secret holds is never said: its key names are (they are no secret, and show the key a
reference probably meant), a bounded number of them, each quoted so that a hostile key (long,
with quotes, newlines or control characters) stays one short, harmless token.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# How many fields naming one Secret are listed, then "and N more".
FIELDS_SHOWN = 4
# How many of a Secret's (or ConfigMap's) keys a message lists, and how much of each.
KEYS_SHOWN = 10
KEY_SHOWN_LENGTH = 64


Ref = tuple[str, str]


@dataclass(frozen=True)
class Referrer:
    """A field of the spec naming a (Secret, key): where a person fixes the reference."""

    field: str
    """Its path, as the spec's problems name fields: ``spec.databases[0].cnpgClusterRef``."""
    cnpg_cluster: str | None = None
    """The CloudNativePG Cluster whose app Secret the field names (``cnpgClusterRef``)."""
    needs_value: bool = False
    """An empty (or whitespace-only) value is refused: the runtime would use it as no value."""


Named = Sequence[tuple[Ref, Referrer]]
"""Each (Secret, key) of the spec with a field naming it, in the order the spec walk met them."""


def naming(named: Named, name: str, key: str | None = None) -> list[Referrer]:
    """The fields naming the Secret ``name`` (its ``key`` only, when given), in spec order."""
    return [referrer for (secret, of), referrer in named if secret == name and key in (None, of)]


def fields(referrers: Iterable[Referrer]) -> str:
    """The fields, in spec order, each once, at most ``FIELDS_SHOWN`` of them."""
    unique = list(dict.fromkeys(referrer.field for referrer in referrers))
    shown = ", ".join(unique[:FIELDS_SHOWN])
    if len(unique) > FIELDS_SHOWN:
        shown += f" and {len(unique) - FIELDS_SHOWN} more"
    return shown


def quoted(key: str) -> str:
    """A key name from the cluster, quoted: escaped as Python does (no raw quote, newline or
    control character) and cut at ``KEY_SHOWN_LENGTH`` characters."""
    if len(key) <= KEY_SHOWN_LENGTH:
        return repr(key)
    return repr(key[:KEY_SHOWN_LENGTH]) + "…"


def keys_held(keys: Iterable[str]) -> str:
    """What keys an object holds, sorted, at most ``KEYS_SHOWN`` named."""
    ordered = sorted(set(keys))
    if not ordered:
        return "it holds no key"
    shown = ", ".join(quoted(key) for key in ordered[:KEYS_SHOWN])
    if len(ordered) > KEYS_SHOWN:
        shown += f" and {len(ordered) - KEYS_SHOWN} more"
    return f"its keys: {shown}"


def _by(referrers: Sequence[Referrer]) -> str:
    return f" ({fields(referrers)})" if referrers else ""


def secret_not_found(name: str, referrers: Sequence[Referrer]) -> str:
    """A Secret that does not exist, said for the fields naming it (any of its keys).

    The app Secret of a CloudNativePG Cluster is made by CloudNativePG once the Cluster is: said
    as the Cluster's, which is what the spec names.
    """
    parts = []
    clusters = list(dict.fromkeys(r.cnpg_cluster for r in referrers if r.cnpg_cluster is not None))
    for cluster in clusters:
        by = [r for r in referrers if r.cnpg_cluster == cluster]
        parts.append(
            f"the CloudNativePG Cluster '{cluster}'{_by(by)} has no app Secret '{name}' yet: "
            "create the Cluster, or wait for CloudNativePG to make it"
        )
    direct = [r for r in referrers if r.cnpg_cluster is None]
    if direct:
        parts.append(f"Secret '{name}' not found{_by(direct)}: create it in the resource's namespace")
    return "; ".join(parts) or f"Secret '{name}' not found"


def secret_key_missing(name: str, key: str, referrers: Sequence[Referrer], held: Iterable[str] | None) -> str:
    """A key the Secret lacks, with the keys it has (``held``; None when not known)."""
    message = f"Secret '{name}' has no key '{key}'{_by(referrers)}"
    if held is None:
        return message
    held = list(held)
    fix = "add it" if not held or all(r.cnpg_cluster is not None for r in referrers) else "add it, or name one it has"
    return f"{message}; {keys_held(held)}: {fix}"


def secret_value_unusable(name: str, key: str, referrers: Sequence[Referrer], why: str) -> str:
    """A value no environment variable can carry (``why`` never quotes it)."""
    return (
        f"key '{key}' of Secret '{name}'{_by(referrers)} {why}: "
        "store the value as text (it becomes an environment variable)"
    )


def secret_value_blank(name: str, key: str, referrers: Sequence[Referrer], *, whitespace: bool) -> str:
    """A value that must not be empty and is (or is only whitespace, which is stripped)."""
    what = "holds only whitespace" if whitespace else "is empty"
    return f"key '{key}' of Secret '{name}'{_by(referrers)} {what}: set it"


def config_map_not_found(name: str, fields_naming: Sequence[str]) -> str:
    """A ConfigMap a knowledge source mounts that does not exist."""
    by = f" ({fields(Referrer(f) for f in fields_naming)})" if fields_naming else ""
    return f"ConfigMap '{name}' not found{by}: create it in the resource's namespace"


def config_map_key_missing(name: str, key: str, fields_naming: Sequence[str], held: Iterable[str]) -> str:
    """A key a knowledge source lists in ``items`` that its ConfigMap lacks, with the keys it has."""
    by = f" ({fields(Referrer(f) for f in fields_naming)})" if fields_naming else ""
    return f"ConfigMap '{name}' has no key '{key}'{by}; {keys_held(held)}: add it, or list one it has"
