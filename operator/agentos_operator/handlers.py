"""The kopf side of the operator: which events wake a reconcile, and how its outcome maps to kopf.

Handlers only orchestrate; every decision is in ``reconcile`` and the pure modules it calls.

- ``AgentOSConfig`` create/update/resume run a reconcile and translate its outcome: an invalid
  spec is a ``kopf.PermanentError`` (no retry storm; the next edit runs again), a missing
  Secret or a transient API failure a ``kopf.TemporaryError`` with a delay.
- Events of owned Deployments, ConfigMaps, Services and Secrets, and of Secrets a resource
  references (found through an index), ask for a reconcile of their owner: a deleted or
  hand-edited child is restored, a rotated Secret rolls the pods.
- A resync asks for every resource periodically, the safety net of a level-triggered design;
  SIGUSR1 asks for one at once (when the operator runs in the main thread, as ``agentos operator`` does).

No handler needs a finalizer (no delete handler, no per-resource timer or daemon): children go
with their owner through ownerReferences, so deleting a resource never waits on the operator.
kopf's own bookkeeping lives under ``agentos.dev`` annotations, not ``kopf.zalando.org``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import threading
from collections.abc import Mapping
from typing import Any

import kopf
from agentos_runtime.config import ConfigError

from agentos_operator import GROUP, KIND, PLURAL, VERSION, render
from agentos_operator.kube.auth import Login
from agentos_operator.kube.children import MANAGED_BY, OPERATOR_NAME
from agentos_operator.kube.client import ApiClient, ApiError
from agentos_operator.metrics import Metrics
from agentos_operator.queueing import Key, Reconciler
from agentos_operator.reconcile import Context
from agentos_operator.resources import parse_resource
from agentos_operator.settings import OperatorSettings

RESOURCE = (GROUP, VERSION, PLURAL)
# `kill -USR1 <operator pid>` asks for a resync of every resource now, without waiting for the timer.
RESYNC_SIGNAL = signal.SIGUSR1
OWNED = {MANAGED_BY: OPERATOR_NAME}
# Children whose changes wake their owner, watched with a server-side label selector so the
# operator never streams the cluster's other Deployments, ConfigMaps and Services.
WATCHED_CHILDREN = (("apps", "v1", "deployments"), ("", "v1", "configmaps"), ("", "v1", "services"))


def kopf_settings(settings: OperatorSettings) -> kopf.OperatorSettings:
    """kopf's settings for this operator: our annotation prefix, our Events, our selectors."""
    result = kopf.OperatorSettings()
    result.persistence.finalizer = f"{GROUP}/finalizer"
    result.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    result.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
    result.posting.enabled = False  # the reconciler posts one Event per decision, never one per retry
    result.networking.request_timeout = settings.api_timeout_seconds
    for resource in WATCHED_CHILDREN:
        result.watching.label_selectors[resource] = f"{MANAGED_BY}={OPERATOR_NAME}"
    return result


def owner_key(body: Mapping[str, Any]) -> Key | None:
    """The (namespace, name) of the ``AgentOSConfig`` controlling ``body``, if one does."""
    meta = body.get("metadata") or {}
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == KIND and str(ref.get("apiVersion", "")).startswith(f"{GROUP}/") and ref.get("controller"):
            return (str(meta.get("namespace") or ""), str(ref.get("name")))
    return None


def referenced_secrets(body: Mapping[str, Any]) -> set[str]:
    """Names of the Secrets a resource reads; none while its spec is invalid (it must be edited anyway)."""
    try:
        resource = parse_resource(body)
    except ConfigError:
        return set()
    return {name for name, _ in render.required_secret_refs(resource)}


def translate(outcome_verdict: str, message: str, *, delay: float | None) -> None:
    """Raise what kopf needs to hear about a reconcile's outcome."""
    if outcome_verdict == "invalid":
        raise kopf.PermanentError(message)
    if delay is not None:
        raise kopf.TemporaryError(message, delay=delay)


def build_registry(settings: OperatorSettings, *, login: Login, metrics: Metrics) -> kopf.OperatorRegistry:
    """All handlers, bound to ``settings``; ``login`` gives both kopf and our client their credentials."""
    registry = kopf.OperatorRegistry()
    register_lifecycle(registry, settings, login=login, metrics=metrics)
    register_indexes(registry)
    register_reconcile(registry, settings)
    register_child_watches(registry)
    if settings.watch_secrets:
        register_secret_watch(registry)
    return registry


def register_lifecycle(
    registry: kopf.OperatorRegistry, operator_settings: OperatorSettings, *, login: Login, metrics: Metrics
) -> None:
    """Log in; at start build the API client, the reconciler and the resync; at stop, close them."""

    @kopf.on.login(id="login", registry=registry)
    def authenticate(**kwargs: Any) -> kopf.ConnectionInfo:
        return login(**kwargs)

    @kopf.on.startup(id="start", registry=registry)
    async def start(memo: Any, settings: kopf.OperatorSettings, logger: kopf.Logger, **kwargs: Any) -> None:
        keys: kopf.Index[None, Key] = kwargs["agentos_keys"]
        credentials = functools.partial(login, settings=settings, logger=logger)
        api = ApiClient(credentials, timeout=operator_settings.api_timeout_seconds, on_error=metrics.api_error)
        context = Context(
            api=api,
            settings=operator_settings,
            logger=logging.getLogger("agentos_operator.reconcile"),
            instance=operator_settings.pod_name or OPERATOR_NAME,
        )
        memo.api = api
        memo.reconciler = Reconciler(context, metrics=metrics)
        memo.resync = asyncio.create_task(memo.reconciler.resync_forever(lambda: list(keys.get(None, []))))
        if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(RESYNC_SIGNAL, lambda: memo.reconciler.request_all(list(keys.get(None, []))))

    @kopf.on.cleanup(id="stop", registry=registry)
    async def stop(memo: Any, **_: Any) -> None:
        # The flag kopf was started with is awaited in a thread; an unset one would hold the exit for seconds.
        stop_flag = memo.get("stop_flag")
        if stop_flag is not None:
            stop_flag.set()
        if threading.current_thread() is threading.main_thread():
            asyncio.get_running_loop().remove_signal_handler(RESYNC_SIGNAL)
        memo.resync.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await memo.resync
        await memo.reconciler.close()
        await memo.api.close()


def register_indexes(registry: kopf.OperatorRegistry) -> None:
    """Every resource's key (for the resync), and which resources read which Secret."""

    @kopf.index(*RESOURCE, id="agentos_keys", registry=registry)
    def agentos_keys(namespace: str | None, name: str, **_: Any) -> dict[None, Key]:
        return {None: (namespace or "", name)}

    @kopf.index(*RESOURCE, id="agentos_by_secret", registry=registry)
    def agentos_by_secret(body: kopf.Body, namespace: str | None, name: str, **_: Any) -> dict[Key, Key]:
        return {(namespace or "", secret): (namespace or "", name) for secret in referenced_secrets(body)}


def register_reconcile(registry: kopf.OperatorRegistry, settings: OperatorSettings) -> None:
    """Reconcile a resource when it is created, changed, or found at start."""

    @kopf.on.resume(*RESOURCE, id="reconcile", registry=registry)
    @kopf.on.create(*RESOURCE, id="reconcile", registry=registry)
    @kopf.on.update(*RESOURCE, id="reconcile", registry=registry)
    async def reconcile_resource(namespace: str | None, name: str, memo: Any, retry: int, **_: Any) -> None:
        reconciler: Reconciler = memo.reconciler
        key = (namespace or "", name)
        try:
            outcome = await reconciler.run(key)
        except ApiError as error:
            raise kopf.TemporaryError(str(error), delay=settings.retry_delay(retry)) from error
        translate(outcome.verdict, outcome.message, delay=reconciler.retry_delay(key, outcome))


def register_child_watches(registry: kopf.OperatorRegistry) -> None:
    """A changed or deleted child wakes its owner."""
    for group, version, plural in WATCHED_CHILDREN:

        @kopf.on.event(group, version, plural, id=f"{plural}-changed", labels=OWNED, registry=registry)
        async def child_changed(body: kopf.Body, memo: Any, **_: Any) -> None:
            key = owner_key(body)
            if key is not None:
                memo.reconciler.request(key)


def register_secret_watch(registry: kopf.OperatorRegistry) -> None:
    """Reconcile the owner of a changed owned Secret, and every resource referencing a changed Secret."""

    @kopf.on.event("", "v1", "secrets", id="secret-changed", registry=registry)
    async def secret_changed(body: kopf.Body, namespace: str | None, name: str, memo: Any, **kwargs: Any) -> None:
        index: kopf.Index[Key, Key] = kwargs["agentos_by_secret"]
        keys = set(index.get((namespace or "", name), []))
        owner = owner_key(body)
        if owner is not None:
            keys.add(owner)
        for key in keys:
            memo.reconciler.request(key)
