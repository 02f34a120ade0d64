"""Metadata-only watches: names, labels, owners and versions of a kind's objects, never their data.

Why not kopf: kopf watches whole objects, and a Secret watch through it streams the data of
every Secret in scope into the operator, which only needs to know that one changed (its
resourceVersion moved) to read the few it references. The API server converts objects to
``PartialObjectMetadata`` when asked to by the Accept header (``kube.client``); this module is
the list-and-watch loop around it, as client-go's reflector runs for controller-runtime's
metadata-only watches:

- list in pages (``limit``, ``continue``), delivering each object as a listing (event type
  None, as kopf does), then watch from the list's resourceVersion with bookmarks;
- a stream that ends (the server's ``timeoutSeconds``, a restart) resumes at once from the last
  resourceVersion seen, an event's or a bookmark's; a failure backs off, then resumes from it;
- a 410 Gone (that version is no longer kept: as an HTTP status or an ERROR event) lists again,
  and delivers as DELETED each object the new list lacks: it was deleted while the watch could
  not say so;
- a watch ending within a second with nothing received counts as a failure, as client-go's
  "very short watch" does, so a server or proxy closing every stream at once is not hammered;
- a 404 listing or watching an optional kind (``Kind.optional``: its CRD is not installed, or
  was removed) is an empty list, not a failure: what was known is delivered as DELETED, said
  once at info, and the kind is listed again after the failures' backoff until it is served
  (transient failures as it comes into service, a 429 while the API server readies its storage,
  are said at info too).

The same loop watches the operator's children whole (``whole``, with the operator's label
selector), also apart from kopf: each event is taken into the store as it is read, one at a
time, where kopf queues every event for a worker per object and keeps a memory of every object
it has seen. In a cold start of 1000 resources, a thousand rollouts' Deployment events (most of
each its ``managedFields``) waited decoded in those queues at once.

Metadata carries annotations too, and ``kubectl apply`` keeps an object's whole manifest in
one (a Secret's data included): each object is cut to ``KEPT_METADATA`` on arrival, before
anyone keeps or sees it. What reaches ``deliver`` is ``{"metadata": {...}}`` and nothing else.

Scope (``watch_in_scope``) follows kopf's rules for the operator's namespaces, so that Secrets
are watched exactly where the operator serves resources: every namespace with one cluster-wide
watch; named namespaces with one watch each; globs and negations (``team-*``, ``!kube-system``)
by watching the namespaces (by metadata too) and one watch per matching namespace, started
and stopped as they come and go. Per namespace rather than one cluster-wide watch filtered
here: the grant can then stop at those namespaces, and the operator receives nothing of the
others' Secrets, not even their names or annotations.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from agentos_operator.kube.client import (
    FORBIDDEN_GRACE_SECONDS,
    UNAVAILABLE,
    ApiClient,
    ApiError,
    ApiUnavailableError,
)
from agentos_operator.kube.kinds import Kind
from agentos_operator.kube.store import KEPT_METADATA

Body = dict[str, Any]
Key = tuple[str, str]
Deliver = Callable[[str | None, Body], None]
Listed = Callable[[str | None], None]
RetryDelay = Callable[[int], float]
Logger = logging.Logger | logging.LoggerAdapter[Any]

NAMESPACE = Kind("v1", "Namespace", "namespaces", namespaced=False)
GONE = 410
NOT_FOUND = 404
PAGE_SIZE = 500  # as kubectl and kopf list: no answer holds the whole kind at once
# Whole objects (a Deployment with its managedFields) decode to several times their JSON: a
# page of 500 of them held tens of MiB at once, pages of 100 a fifth of it.
WHOLE_PAGE_SIZE = 100
# client-go's reflector asks each watch to end after 5 to 10 minutes, spread so that many
# watches do not all come back at once.
WATCH_MIN_SECONDS = 300
SHORT_WATCH_SECONDS = 1.0
WATCH_EVENTS = frozenset({"ADDED", "MODIFIED", "DELETED"})
PARTIAL = "PartialObjectMetadata"
PARTIAL_LIST = "PartialObjectMetadataList"
# Characters that make a namespace setting a pattern rather than a name (no namespace name has
# any): kopf's globs and negations, and fnmatch's character sets.
PATTERN_CHARACTERS = frozenset("!*?,[")


def trimmed(obj: Mapping[str, Any]) -> Body:
    """Pure: ``obj`` as delivered and kept: its identifying metadata, nothing else (no annotations)."""
    meta = obj.get("metadata") or {}
    return {"metadata": {field: meta[field] for field in KEPT_METADATA if field in meta}}


def key_of(body: Mapping[str, Any]) -> Key:
    meta = body.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name"))


def vanished(known: Mapping[Key, Body], listed: Mapping[Key, Body]) -> list[Body]:
    """Pure: the objects known before a list that it no longer has, in key order: deleted meanwhile."""
    return [known[key] for key in sorted(known) if key not in listed]


def failure_delay(status: int, failures: int, retry_delay: RetryDelay) -> float:
    """Pure: seconds to wait after a failure, ``failures`` being how many came right before it.

    A first 410 lists again at once: a version expiring is routine on a busy cluster. Any
    other failure, and a 410 right after another failure, backs off.
    """
    if status == GONE and failures == 0:
        return 0.0
    return retry_delay(failures)


def short_watch(seconds: float, received: int) -> bool:
    """Pure: whether a stream that ended cleanly after ``seconds`` with ``received`` events was refused in effect."""
    return received == 0 and seconds < SHORT_WATCH_SECONDS


def watch_seconds() -> int:
    """The ``timeoutSeconds`` of one watch: 5 to 10 minutes, at random."""
    return WATCH_MIN_SECONDS + random.randrange(WATCH_MIN_SECONDS)  # spreading the load, not secrecy


def is_pattern(namespace: str) -> bool:
    """Pure: whether a namespace setting is a glob or a negation rather than a name."""
    return any(character in PATTERN_CHARACTERS for character in namespace)


def namespace_matches(name: str, patterns: Iterable[str]) -> bool:
    """Pure: whether namespace ``name`` is one the operator serves, by kopf's rules for ``patterns``.

    Each pattern is comma-separated globs (``*``, ``?``); a ``!`` glob excludes; a pattern
    starting with an exclusion starts from every namespace; a later inclusion only takes back
    what an exclusion took from the first glob's matches. Any matching pattern serves it.
    """
    for pattern in patterns:
        globs = [glob.strip() for glob in pattern.split(",")]
        if globs[0].startswith("!"):
            globs.insert(0, "*")
        matches = first = fnmatch.fnmatchcase(name, globs[0])
        for glob in globs[1:]:
            if glob.startswith("!"):
                matches = matches and not fnmatch.fnmatchcase(name, glob.lstrip("!"))
            else:
                matches = matches or (first and fnmatch.fnmatchcase(name, glob))
        if matches:
            return True
    return False


def fixed_namespaces(patterns: Sequence[str]) -> list[str | None] | None:
    """Pure: the namespaces to watch when known up front (None: cluster-wide); None when they must be followed.

    No setting: every namespace, one watch. Names only: one watch each. Any glob or negation:
    the namespaces matching it, which change as namespaces come and go.
    """
    if not patterns:
        return [None]
    if any(is_pattern(pattern) for pattern in patterns):
        return None
    names: list[str | None] = [*sorted(set(patterns))]
    return names


class MetadataWatch:
    """The objects of ``kind`` in ``namespace`` (None: all), delivered to ``deliver`` by metadata only
    (``whole``: whole, as the API server sends them), those ``label_selector`` selects if given.

    ``deliver(event_type, body)`` is called in the loop, synchronously: event type None for a
    listed object, else ADDED, MODIFIED or DELETED. ``known`` is the last metadata of each
    object, so a new list (after a 410) can tell what the watch missed: an object gone is
    delivered as DELETED (by its metadata, also when watched whole), one not known before as
    ADDED (the first list's objects are all
    listings). ``on_listed(namespace)`` is called after each list, once its objects are all
    delivered. ``watch_timeout`` gives each watch's ``timeoutSeconds``; ``clock`` times refusals.

    The backoff starts over once a watch proves healthy (an event, or a stream that lasted),
    not after a list: a server answering every watch with 410 right after a list would
    otherwise be listed from in a tight loop. The authorizer's refusals (403) are logged at
    info until they have lasted ``FORBIDDEN_GRACE_SECONDS`` in a row: an API server that just
    restarted refuses every watch until it has read the RBAC objects.
    """

    def __init__(
        self,
        api: ApiClient,
        kind: Kind,
        namespace: str | None,
        deliver: Deliver,
        *,
        retry_delay: RetryDelay,
        logger: Logger,
        page_size: int = PAGE_SIZE,
        watch_timeout: Callable[[], int] = watch_seconds,
        on_listed: Listed | None = None,
        label_selector: str | None = None,
        whole: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.kind = kind
        self.namespace = namespace
        self.deliver = deliver
        self.retry_delay = retry_delay
        self.logger = logger
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        self.on_listed = on_listed
        self.label_selector = label_selector
        self.whole = whole
        self.known: dict[Key, Body] = {}
        self.resource_version: str | None = None  # None: list before watching
        self._failures = 0
        self._clock = clock
        self._refused_since: float | None = None  # when the first of the authorizer's refusals in a row came
        self._told_whole = False
        self._listed = False  # a list was taken before: a new one reports what the watch missed
        self._absent = False  # the last list found the (optional) kind not served

    @property
    def scope(self) -> str:
        return f"{self.kind.plural} in {self.namespace}" if self.namespace else f"{self.kind.plural} everywhere"

    async def run(self) -> None:
        """List, then watch, until cancelled; failures are logged and retried, never raised."""
        while True:
            try:
                if self.resource_version is None:
                    await self._list()
                await self._watch()
            except ApiError as error:
                if self.kind.optional and error.status == NOT_FOUND:
                    await self._not_served()
                else:
                    await self._pause(error)
            except Exception:  # a fault of ours in taking an event in: start over from a list
                self.logger.exception("the watch of %s failed; listing again", self.scope)
                self.resource_version = None
                await self._pause(None)

    async def _list(self) -> None:
        listed: dict[Key, Body] = {}
        token: str | None = None
        while True:
            page = await self.api.list_metadata(
                self.kind,
                self.namespace,
                limit=self.page_size,
                continue_token=token,
                label_selector=self.label_selector,
                whole=self.whole,
            )
            self._check_partial(page, PARTIAL_LIST)
            for item in page.get("items") or []:
                body = trimmed(item)
                key = key_of(body)
                listed[key] = body
                self.deliver(
                    "ADDED" if self._listed and key not in self.known else None, self._listed_whole(item) or body
                )
            meta = page.get("metadata") or {}
            token = meta.get("continue") or None
            if token is None:
                break
        gone = vanished(self.known, listed)
        self.known = listed
        self._listed = True
        if self._absent:
            self._absent = False
            self.logger.info("%s are served now: watching them", self.scope)
        self.resource_version = str(meta.get("resourceVersion") or "")
        for body in gone:
            self.deliver("DELETED", body)
        if self.on_listed is not None:
            self.on_listed(self.namespace)

    async def _watch(self) -> None:
        assert self.resource_version is not None
        loop = asyncio.get_running_loop()
        started, received = loop.time(), 0
        events = self.api.watch_metadata(
            self.kind,
            self.namespace,
            resource_version=self.resource_version,
            timeout_seconds=self.watch_timeout(),
            label_selector=self.label_selector,
            whole=self.whole,
        )
        async for event in events:
            received += 1
            self._failures, self._refused_since = 0, None
            self._take(event)
        if short_watch(loop.time() - started, received):
            raise ApiUnavailableError(
                verb="watch",
                path=self.kind.path(self.namespace),
                status=UNAVAILABLE,
                reason="ShortWatch",
                message="the watch ended at once, with nothing received",
            )
        self._failures, self._refused_since = 0, None
        self.logger.debug("the watch of %s ended; resuming", self.scope)

    def _listed_whole(self, item: Body) -> Body | None:
        """A listed object as watched whole: with its ``apiVersion`` and ``kind``, which an API
        server leaves out of a list's items (a watch event's object has them); None when watched
        by metadata."""
        if not self.whole:
            return None
        return {"apiVersion": self.kind.api_version, "kind": self.kind.kind, **item}

    def _take(self, event: Mapping[str, Any]) -> None:
        event_type, obj = event.get("type"), event["object"]
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if event_type in WATCH_EVENTS:
            self._check_partial(obj, PARTIAL)
            body = trimmed(obj)
            if event_type == "DELETED":
                self.known.pop(key_of(body), None)
            else:
                self.known[key_of(body)] = body
            if version:
                self.resource_version = str(version)
            self.deliver(str(event_type), obj if self.whole and event_type != "DELETED" else body)
        elif event_type == "BOOKMARK" and version:
            self.resource_version = str(version)

    async def _not_served(self) -> None:
        """The API server serves no such kind (an optional one whose CRD is not installed): none
        exist. Delivered as an empty list would be, then listed again after the backoff."""
        self.resource_version = None
        if not self._absent:
            self._absent = True
            self.logger.info(
                "%s are not served (their CustomResourceDefinition is not installed): none to watch until they are",
                self.scope,
            )
        gone = vanished(self.known, {})
        self.known = {}
        self._listed = True  # what is listed once it is served was made since: ADDED
        for body in gone:
            self.deliver("DELETED", body)
        if self.on_listed is not None:
            self.on_listed(self.namespace)
        delay = self.retry_delay(self._failures)
        self._failures += 1
        await asyncio.sleep(delay)

    async def _pause(self, error: ApiError | None) -> None:
        delay = failure_delay(error.status if error is not None else UNAVAILABLE, self._failures, self.retry_delay)
        self._failures += 1
        now = self._clock()
        refused = error is not None and error.unauthorized
        if not refused:
            self._refused_since = None
        elif self._refused_since is None:
            self._refused_since = now
        if error is not None and error.status == GONE:
            self.resource_version = None
            self.logger.info("the watch of %s is too old to resume; listing again", self.scope)
        elif refused and self._refused_since is not None and now - self._refused_since < FORBIDDEN_GRACE_SECONDS:
            said = f"told if still so after {FORBIDDEN_GRACE_SECONDS:.0f} s"
            self.logger.info("the watch of %s was refused (%s); retrying in %.1fs, %s", self.scope, error, delay, said)
        elif error is not None and self._absent and error.transient:
            # A kind just served (its CRD installed a moment ago): the API server answers 429
            # "storage is (re)initializing" until its storage for the kind is ready.
            self.logger.info("%s are coming into service (%s); retrying in %.1fs", self.scope, error, delay)
        elif error is not None:
            self.logger.warning("the watch of %s failed (%s); retrying in %.1fs", self.scope, error, delay)
        await asyncio.sleep(delay)

    def _check_partial(self, body: Mapping[str, Any], expected: str) -> None:
        if not self.whole and body.get("kind") != expected and not self._told_whole:
            self._told_whole = True
            self.logger.warning(
                "the API server sent whole %s rather than their metadata; all but the metadata is dropped on arrival",
                self.kind.plural,
            )


async def watch_in_scope(
    api: ApiClient,
    kind: Kind,
    patterns: Sequence[str],
    deliver: Deliver,
    *,
    retry_delay: RetryDelay,
    logger: Logger,
    on_listed: Listed | None = None,
    label_selector: str | None = None,
    whole: bool = False,
) -> None:
    """Watch ``kind`` by metadata in the namespaces ``patterns`` select (every one when empty), until cancelled.

    ``on_listed(namespace)``: each watch of ``kind`` (one per namespace, or None for all) has listed.
    ``whole``: whole objects (in pages of ``WHOLE_PAGE_SIZE``); ``label_selector``: only those it selects.

    With globs, kopf needs to list namespaces; where it may not, it serves the namespaces named
    outright, and so do these watches.
    """

    def watch(namespace: str | None, to: Deliver) -> MetadataWatch:
        return MetadataWatch(
            api,
            kind,
            namespace,
            to,
            retry_delay=retry_delay,
            logger=logger,
            on_listed=on_listed,
            label_selector=label_selector,
            whole=whole,
            page_size=WHOLE_PAGE_SIZE if whole else PAGE_SIZE,
        )

    namespaces = fixed_namespaces(patterns)
    if namespaces is None:
        try:
            await api.list_metadata(NAMESPACE, None, limit=1)
        except ApiError as error:
            if error.status == 403:
                namespaces = [pattern for pattern in sorted(set(patterns)) if not is_pattern(pattern)]
                logger.warning("may not list namespaces: watching %s only in %s", kind.plural, namespaces)
    if namespaces is None:
        follower = _Follower(patterns, watch, deliver)
        await follower.run(
            MetadataWatch(api, NAMESPACE, None, follower.namespace_changed, retry_delay=retry_delay, logger=logger)
        )
        return
    async with asyncio.TaskGroup() as group:
        for namespace in namespaces:
            group.create_task(watch(namespace, deliver).run())


class _Follower:
    """One watch per namespace matching ``patterns``, started when it appears and stopped when it is gone."""

    def __init__(
        self, patterns: Sequence[str], watch: Callable[[str, Deliver], MetadataWatch], deliver: Deliver
    ) -> None:
        self._patterns = patterns
        self._watch = watch
        self._deliver = deliver
        self._running: dict[str, tuple[asyncio.Task[None], MetadataWatch]] = {}

    async def run(self, namespaces: MetadataWatch) -> None:
        """Run ``namespaces``, the watch delivering to ``namespace_changed``; stop every namespace's watch after."""
        try:
            await namespaces.run()
        finally:
            tasks = [task for task, _ in self._running.values()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def namespace_changed(self, event_type: str | None, body: Body) -> None:
        name = str(body["metadata"]["name"])
        if event_type == "DELETED":
            self._stop(name)
        elif name not in self._running and namespace_matches(name, self._patterns):
            watch = self._watch(name, self._deliver)
            self._running[name] = (asyncio.create_task(watch.run(), name=f"watch {watch.scope}"), watch)

    def _stop(self, name: str) -> None:
        """Stop watching a namespace that is gone; what it held went with it."""
        running = self._running.pop(name, None)
        if running is None:
            return
        task, watch = running
        task.cancel()
        for body in vanished(watch.known, {}):
            self._deliver("DELETED", body)
