"""Referenced Secrets: read the values render needs, and create the generated security key once.

Only Secrets in the resource's own namespace are read (a reference cannot reach across
namespaces). Values are returned to the caller and go nowhere else: errors name the Secret and
key that is missing, the fields naming them and the keys the Secret has, never a value.

Secrets are read through the store: with a Secret watch, a referenced Secret is read once per
version, so an unchanged one costs no request; without, each read asks the API server.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from agentos_operator import conditions, referrers, render
from agentos_operator.errors import OperatorError
from agentos_operator.kube.children import CreatedOnce, refuse_unmanaged
from agentos_operator.kube.kinds import SECRET
from agentos_operator.kube.store import Store
from agentos_operator.ownership import controller_uid
from agentos_operator.render import layout
from agentos_operator.resources import AgentOSResource

# 32 random bytes: the strength of a 256-bit key, URL-safe so it can sit in an HTTP header as is.
SECURITY_KEY_BYTES = 32


@dataclass
class UnresolvedSecretsError(OperatorError):
    """Referenced Secrets that do not exist, and keys absent from (or unreadable in) those that do."""

    missing_secrets: list[str] = field(default_factory=list)
    missing_keys: list[tuple[str, str]] = field(default_factory=list)
    unreadable_keys: list[tuple[str, str, str]] = field(default_factory=list)
    """(Secret, key, why): a value that is there but no environment variable can carry."""
    held_keys: dict[str, list[str]] = field(default_factory=dict)
    """The keys each Secret lacking one has (names only), to say which it could have meant."""
    named_by: referrers.Named = ()
    """The fields naming each (Secret, key) (``render.secret_referrers``), said with its problem."""

    @property
    def reason(self) -> str:
        """The condition reason of the worst problem: a Secret missing, then a key missing, then
        a key whose value is there but unusable (``conditions.SECRET_VALUE_INVALID``)."""
        if self.missing_secrets:
            return conditions.SECRET_NOT_FOUND
        if self.missing_keys:
            return conditions.SECRET_KEY_MISSING
        return conditions.SECRET_VALUE_INVALID

    def __str__(self) -> str:
        parts = [
            referrers.secret_not_found(name, referrers.naming(self.named_by, name)) for name in self.missing_secrets
        ]
        parts += [
            referrers.secret_key_missing(
                name, key, referrers.naming(self.named_by, name, key), self.held_keys.get(name)
            )
            for name, key in self.missing_keys
        ]
        parts += [
            referrers.secret_value_unusable(name, key, referrers.naming(self.named_by, name, key), why)
            for name, key, why in self.unreadable_keys
        ]
        return "; ".join(parts)


async def read_secret_values(
    store: Store,
    namespace: str,
    refs: Iterable[tuple[str, str]],
    *,
    mounted: Iterable[tuple[str, str]] = (),
    named_by: referrers.Named = (),
    fresh: bool = False,
) -> dict[tuple[str, str], str]:
    """The decoded value of every (Secret, key) of ``refs``; raises ``UnresolvedSecretsError`` listing all that are missing.

    ``mounted``: (Secret, key) the pods mount as files (``render.mounted_secret_refs``), checked to
    exist (the kubelet starts no pod whose Secret volume lacks a projected key) but never decoded
    nor returned: their values stay out of the operator's output. ``named_by``: the fields naming
    each (``render.secret_referrers``), which the error says. ``fresh``: each Secret read as the
    API server has it now (one GET each), not as the watch last told it: for a spec just edited,
    whose Secrets may have changed in the same GitOps sync (their events not told yet), so that
    the pods roll once, with both changes, not twice.
    """
    reads = (store.get_fresh,) if fresh else (store.get, store.get_fresh)
    wanted: dict[str, list[str]] = {}
    present_only: dict[str, list[str]] = {}
    for name, key in sorted(set(refs)):
        wanted.setdefault(name, []).append(key)
    for name, key in sorted(set(mounted)):
        present_only.setdefault(name, []).append(key)
    values: dict[tuple[str, str], str] = {}
    problem = UnresolvedSecretsError(named_by=named_by)
    for name in sorted(wanted.keys() | present_only.keys()):
        # A key missing or unusable in the store's copy is judged again on the Secret as it is
        # now: the watch may not have told its latest change yet (a key added with the resource
        # that reads it, in one GitOps sync). A Secret missing from the store is not read again.
        for read in reads:
            body = await read(SECRET, namespace, name)
            found = UnresolvedSecretsError(named_by=named_by)
            if body is None:
                found.missing_secrets.append(name)
                break
            _check(body, name, wanted.get(name, ()), present_only.get(name, ()), values, found)
            if not (found.missing_keys or found.unreadable_keys):
                break
        problem.missing_secrets += found.missing_secrets
        problem.missing_keys += found.missing_keys
        problem.unreadable_keys += found.unreadable_keys
        problem.held_keys.update(found.held_keys)
    if problem.missing_secrets or problem.missing_keys or problem.unreadable_keys:
        raise problem
    return values


def _check(
    body: dict[str, Any],
    name: str,
    keys: Iterable[str],
    present_only: Iterable[str],
    values: dict[tuple[str, str], str],
    problem: UnresolvedSecretsError,
) -> None:
    """``_take_values`` of ``keys``, and each of ``present_only`` missing into ``problem`` too,
    with the keys the Secret holds when one is missing."""
    _take_values(body, name, keys, values, problem)
    data = body.get("data") or {}
    problem.missing_keys += [(name, key) for key in present_only if not isinstance(data.get(key), str)]
    if problem.missing_keys:
        problem.held_keys[name] = [str(key) for key in data]


def _take_values(
    body: dict[str, Any],
    name: str,
    keys: Iterable[str],
    values: dict[tuple[str, str], str],
    problem: UnresolvedSecretsError,
) -> None:
    """Decode ``keys`` of the Secret ``body`` into ``values``; each one missing or unreadable into ``problem``."""
    data = body.get("data") or {}
    for key in keys:
        encoded = data.get(key)
        if not isinstance(encoded, str):
            problem.missing_keys.append((name, key))
            continue
        value, why = _decode(encoded)
        if why is not None:
            problem.unreadable_keys.append((name, key, why))
        else:
            values[(name, key)] = value


def _decode(encoded: str) -> tuple[str, str | None]:
    """A Secret data value as text, or why it cannot be one: the runtime reads it from an
    environment variable, which holds UTF-8 text without NUL. The why never quotes the value."""
    try:
        value = base64.b64decode(encoded, validate=True).decode("utf-8")
    except binascii.Error:
        return "", "is not base64"
    except UnicodeDecodeError as error:
        return "", f"is not UTF-8 text (byte {error.start + 1} of it)"
    if "\x00" in value:
        return "", f"holds a NUL character (at character {value.index(chr(0)) + 1})"
    return value, None


def generated_security_key(resource: AgentOSResource) -> dict[str, Any] | None:
    """The Secret to generate when the spec names no security key; None when it names one."""
    if resource.spec.security_key_secret_ref is not None:
        return None
    name, key = render.security_key_ref(resource)
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": resource.namespace,
        "labels": render.labels(resource.name),
        "ownerReferences": layout.object_metadata(
            name, resource.namespace, owner_name=resource.name, owner_uid=resource.uid
        ).get("ownerReferences", []),
    }
    token = secrets.token_urlsafe(SECURITY_KEY_BYTES)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "Opaque",
        "data": {key: base64.b64encode(token.encode()).decode("ascii")},
    }


@dataclass(frozen=True)
class SecurityKey:
    """The generated security key's value, and the Secret to create for it when it does not exist yet."""

    value: str
    to_create: CreatedOnce | None = None
    orphaned: bool = False
    """It exists without an owner (its resource deleted with --cascade=orphan, then made again):
    the operator, which deletes no Secret, may not make it this resource's."""


async def security_key(store: Store, resource: AgentOSResource) -> SecurityKey | None:
    """The generated key this resource's server uses: the existing Secret's, else a new one to create.

    None when the spec names its own key. The Secret is created with the resource's other
    children, after their dry runs (``apply_children``): a spec the API server refuses leaves
    nothing behind. A key that changed would log every client out, so an existing Secret of
    ours is kept even if someone edited it. One this resource does not own (made beforehand by
    someone else, with a key they know) is never used as the key: ``ChildConflictError``, as for
    any other child whose name is taken.
    """
    manifest = generated_security_key(resource)
    if manifest is None:
        return None
    name, key = render.security_key_ref(resource)
    # Not in a store whose Secrets are listed: to be created, a 409 then telling that it exists
    # after all. Before that list is in (an operator just restarted), looked up first: a key
    # that exists is the rule then, and a create would be a write refused.
    listed = store.has_listed(SECRET, resource.namespace)
    existing = await store.get(SECRET, resource.namespace, name, confirm_absence=not listed)
    if existing is None:
        value, _ = _decode(manifest["data"][key])
        return SecurityKey(value, CreatedOnce(manifest, conflict_fix=SECURITY_KEY_CONFLICT_FIX))
    refuse_unmanaged(existing, "Secret", name, resource.name, resource.uid, fix=SECURITY_KEY_CONFLICT_FIX)
    values: dict[tuple[str, str], str] = {}
    problem = UnresolvedSecretsError()
    _take_values(existing, name, [key], values, problem)  # the store's get answers with the data
    if problem.missing_keys:
        problem.held_keys[name] = [str(held) for held in existing.get("data") or {}]
    if problem.missing_keys or problem.unreadable_keys:
        raise problem
    return SecurityKey(values[(name, key)], orphaned=controller_uid(existing) is None)


SECURITY_KEY_CONFLICT_FIX = "delete it, or name it in spec.securityKeySecretRef to use its key"
