"""The kopf side of the operator: its settings, its lifecycle, and the handlers it registers.

Handlers only orchestrate; every decision is in ``reconcile`` and the pure modules it calls.

- The watches (``watching``) feed the store every reconcile reads, and ask for reconciles:
  a resource's own events, a child's change (a deleted or hand-edited child is restored), a
  referenced Secret's change (a rotated Secret rolls the pods), a change of a ConfigMap that
  knowledge sources mount (created, edited or deleted: the readers resolve it, or roll their
  pods). kopf runs the resources' watch; the children's, the Secrets' and the ConfigMaps'
  (the last two by metadata only) run as tasks from start to stop.
- The reconciler (``queueing``) runs them, retries failures with backoff, and reports through
  status and Events; kopf never retries anything itself.
- A resync asks for every resource periodically, the safety net of a level-triggered design;
  SIGUSR1 asks for one at once (when the operator runs in the main thread, as ``agentos operator`` does).

No handler needs a finalizer, and kopf keeps no state on the resource: the operator registers
no create/update/delete handler, only event handlers. Children go with their owner
through ownerReferences, so deleting a resource never waits on the operator. Should kopf ever
write bookkeeping, it goes under ``agentos.dev`` annotations, not ``kopf.zalando.org``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import threading
from typing import Any

import kopf

from agentos_operator import GROUP, watching
from agentos_operator.kube import kinds
from agentos_operator.kube.auth import Login
from agentos_operator.kube.client import ApiClient
from agentos_operator.kube.store import Store
from agentos_operator.metrics import Metrics
from agentos_operator.ownership import OPERATOR_NAME
from agentos_operator.queueing import Reconciler
from agentos_operator.reconcile import Context
from agentos_operator.settings import OperatorSettings

# `kill -USR1 <operator pid>` asks for a resync of every resource now, without waiting for the timer.
RESYNC_SIGNAL = signal.SIGUSR1


class NoDiffBase(kopf.DiffBaseStorage):
    """A diff base of nothing: the operator registers event handlers only, and they see no diff.

    kopf builds every event's "essence" (a deep copy of the body), clears it and diffs it with
    the last one whatever handlers are registered: a sixth of the operator's CPU in a cold
    start, spent on diffs no handler of this operator is given. With this storage the essence is
    empty and the diff is too.
    """

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def kopf_settings(settings: OperatorSettings) -> kopf.OperatorSettings:
    """kopf's settings for this operator: our annotation prefix, our Events, our selectors."""
    result = kopf.OperatorSettings()
    result.persistence.finalizer = f"{GROUP}/finalizer"
    result.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    result.persistence.diffbase_storage = NoDiffBase()
    result.posting.enabled = False  # the reconciler posts one Event per decision, never one per retry
    result.networking.request_timeout = settings.api_timeout_seconds
    # kopf keeps a worker per object until it idled this long, holding the object's last event:
    # at its default (5 s) a burst of thousands of events keeps thousands alive at once.
    result.queueing.idle_timeout = 0.5
    # Lists in pages (as kubectl does), so that listing every object of a kind never holds them
    # all in memory at once: decoded, a page is several times its JSON (in a restart's lists of
    # 300 resources' children, one page per kind, 21 MiB at once).
    result.watching.chunk_size = 100
    # Watching named namespaces needs no cluster-wide view, and the chart grants none then:
    # kopf would otherwise try to list namespaces and CRDs cluster-wide, be refused, and retry
    # for about a minute before starting. Patterns (`team-*`) are served by cluster-wide watches
    # filtered by ``watching.scope_of``; those follow the CRD.
    result.scanning.disabled = bool(settings.namespaces) and not settings.namespace_patterns
    return result


def build_registry(settings: OperatorSettings, *, login: Login, metrics: Metrics) -> kopf.OperatorRegistry:
    """All handlers, bound to ``settings``; ``login`` gives both kopf and our client their credentials."""
    registry = kopf.OperatorRegistry()
    register_lifecycle(registry, settings, login=login, metrics=metrics)
    watching.register_watches(registry)
    check_event_handlers_only(registry)
    return registry


def check_event_handlers_only(registry: kopf.OperatorRegistry) -> None:
    """Refuse a registry with create/update/delete/resume handlers, daemons or timers: with
    ``NoDiffBase`` they would see every event as a creation and never idle."""
    extra = [*registry._changing.get_all_handlers(), *registry._spawning.get_all_handlers()]
    if extra:
        raise RuntimeError(f"NoDiffBase serves event handlers only, not {', '.join(h.id for h in extra)}")


def register_lifecycle(
    registry: kopf.OperatorRegistry, operator_settings: OperatorSettings, *, login: Login, metrics: Metrics
) -> None:
    """Log in; at start build the API client, the store, the reconciler and the resync; at stop, close them."""

    @kopf.on.login(id="login", registry=registry)
    def authenticate(**kwargs: Any) -> kopf.ConnectionInfo:
        return login(**kwargs)

    @kopf.on.startup(id="start", registry=registry)
    async def start(memo: Any, settings: kopf.OperatorSettings, logger: kopf.Logger, **_: Any) -> None:
        credentials = functools.partial(login, settings=settings, logger=logger)
        api = ApiClient(credentials, timeout=operator_settings.api_timeout_seconds, on_error=metrics.api_error)
        store = Store(api, consistency_seconds=operator_settings.consistency_seconds)
        store.watch(kinds.AGENTOS_CONFIG, trust_absence=True)  # reconciles are asked for by its own events
        for kind in watching.CHILD_KINDS:
            # A Deployment's status is the resource's readiness; no other child's status is read.
            store.watch(kind, read_status=kind is kinds.DEPLOYMENT)
        if operator_settings.watch_secrets:
            store.watch(kinds.SECRET, keep_data=False)

        def recheck(key: tuple[str, str], delay: float) -> None:
            reconciler.request(key, delay=delay)  # the reconciler made just below: a reconcile runs after

        context = Context(
            api=api,
            store=store,
            settings=operator_settings,
            logger=logging.getLogger("agentos_operator.reconcile"),
            instance=operator_settings.pod_name or OPERATOR_NAME,
            recheck=recheck,
        )
        reconciler = Reconciler(context, metrics=metrics)
        store.on_unconfirmed = reconciler.request
        memo.api, memo.store, memo.reconciler = api, store, reconciler
        memo.serves = watching.scope_of(operator_settings)
        memo.references = references = watching.References(default_image=operator_settings.runtime_image)
        watch_logger = logging.getLogger("agentos_operator.watching")
        memo.child_watches = [
            asyncio.create_task(
                watching.watch_children(
                    api,
                    kind,
                    operator_settings,
                    functools.partial(watching.child_changed, store, reconciler, kind),
                    logger=watch_logger,
                    on_listed=functools.partial(store.listed, kind),
                )
            )
            for kind in watching.CHILD_KINDS
        ]
        if operator_settings.watch_secrets:  # by metadata only, apart from kopf: see ``watching``
            deliver = functools.partial(watching.secret_changed, store, references, reconciler)
            listed = functools.partial(store.listed, kinds.SECRET)
            memo.secret_watch = asyncio.create_task(
                watching.watch_by_metadata(
                    api, kinds.SECRET, operator_settings, deliver, logger=watch_logger, on_listed=listed
                )
            )
        on_config_map = functools.partial(
            watching.config_map_changed, watching.Versions(), references, reconciler.request
        )
        memo.config_map_watch = asyncio.create_task(
            watching.watch_by_metadata(api, kinds.CONFIG_MAP, operator_settings, on_config_map, logger=watch_logger)
        )

        async def resync() -> None:
            await watching.resync(store, reconciler, logger=context.logger)

        def resync_now() -> None:
            memo.resync_asked = asyncio.create_task(resync())  # kept referenced until it ends

        memo.resync = asyncio.create_task(watching.resync_forever(operator_settings.resync_seconds, resync))
        if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
            asyncio.get_running_loop().add_signal_handler(RESYNC_SIGNAL, resync_now)

    @kopf.on.cleanup(id="stop", registry=registry)
    async def stop(memo: Any, **_: Any) -> None:
        # The flag kopf was started with is awaited in a thread; an unset one would hold the exit for seconds.
        stop_flag = memo.get("stop_flag")
        if stop_flag is not None:
            stop_flag.set()
        if threading.current_thread() is threading.main_thread():
            asyncio.get_running_loop().remove_signal_handler(RESYNC_SIGNAL)
        watches = (memo.get("secret_watch"), memo.get("config_map_watch"), *memo.get("child_watches", ()))
        for task in (memo.resync, memo.get("resync_asked"), *watches):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await memo.reconciler.close()
        memo.store.close()
        await memo.api.close()
