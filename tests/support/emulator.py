"""A Kubernetes API server for tests: kmock's ``KubernetesEmulator`` plus what a real server does.

kmock 0.8 (pinned) keeps objects in memory but leaves out what kopf and our operator rely on:
object identity and versions (uid, resourceVersion, generation, creationTimestamp), 201 on
create, optimistic concurrency (409 on a stale resourceVersion), watches that resume from a
resourceVersion without losing events between list and watch, label selectors, the status
subresource, ``stringData``, quantities in canonical form (``0.5`` CPU is stored as ``500m``),
ownerReference garbage collection, server-side apply (creating what is missing, dropping the
fields an applier stopped setting), ``/api/v1/namespaces`` and core discovery (``v1``, not
``/v1``). This subclass adds them, plus what only tests and benchmarks need: a request log
counted by verb, listeners of every watch event, and injected faults: error statuses (with
``Retry-After``), dropped watches, connections closed before or after a request took effect,
requests never answered, answers that are not JSON, and the whole server going down and
coming back on the same port. It relies on kmock's and aiohttp's private hooks, hence the pin.

Metadata-only answers, as a real API server gives them: an Accept header asking for
``as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`` (a list) or ``as=PartialObjectMetadata``
(an object, or each object of a watch) gets objects cut to ``apiVersion``, ``kind`` and
``metadata``; asking for the wrong one is a 406. Every answer about Secrets is recorded as
sent (``secret_answers``), so a test can tell what crossed the wire. Watches also get what a
real server sends them now and then: history expiring (``expire_history``: a watch from an
older resourceVersion gets an ERROR event with a 410) and bookmarks (``bookmark``).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import copy
import dataclasses
import datetime
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp.web
import attrs
import jsonpatch
import kmock
import yaml
from agentos_operator.quantities import canonical_resource_quantity
from kmock._internal import dicts, enums, parsing, references, rendering

Body = dict[str, Any]
Key = tuple[references.resource, str | None, str]
Listener = Callable[[references.resource, Body], None]

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
APPLY_PATCH = "application/apply-patch+yaml"
NAMESPACES_PATH = re.compile(r"/api/v1/namespaces(?:/([^/]+)(?:/(status|finalize))?)?")
AGENTOS = "agentos.dev/v1alpha1/agentosconfigs"
SECRETS = references.resource("", "v1", "secrets")
NAMESPACES = references.resource("", "v1", "namespaces")
# Metadata the server owns: a write can never change these.
SERVER_METADATA = ("uid", "creationTimestamp", "generation", "resourceVersion", "deletionTimestamp", "name")
# The verbs faults and request counts speak of, from kmock's actions.
VERBS = {"CREATE": "create", "UPDATE": "patch", "DELETE": "delete", "FETCH": "get", "LIST": "list", "WATCH": "watch"}


class _DropWatches:
    """Put on a resource's event bus to end every open watch of it, as an API server restart would."""


@dataclass(frozen=True)
class _Bookmark:
    """Put on a resource's event bus to send a bookmark at ``resource_version`` to the watches that allow them."""

    resource_version: str


PARTIAL = "PartialObjectMetadata"
PARTIAL_LIST = "PartialObjectMetadataList"
META_GROUP_VERSION = "meta.k8s.io/v1"


def metadata_form(accept: str) -> str | None:
    """The metadata-only form an Accept header asks for (``PARTIAL`` or ``PARTIAL_LIST``); None for whole objects.

    Negotiated as the API server does: the first media type it can serve wins. Only JSON is
    served here (no protobuf), and a conversion other than to meta.k8s.io/v1 metadata (a
    Table) is skipped for the next.
    """
    for media in accept.split(","):
        media_type, *parameters = (part.strip() for part in media.split(";"))
        if media_type not in ("application/json", "application/*", "*/*"):
            continue
        options = dict(parameter.split("=", 1) for parameter in parameters if "=" in parameter)
        target = options.get("as")
        if target is None:
            return None
        if target in (PARTIAL, PARTIAL_LIST) and f"{options.get('g')}/{options.get('v')}" == META_GROUP_VERSION:
            return target
    return None


def as_partial(body: Mapping[str, Any]) -> Body:
    """``body`` as a PartialObjectMetadata: its metadata, and nothing else of it."""
    return {"apiVersion": META_GROUP_VERSION, "kind": PARTIAL, "metadata": copy.deepcopy(body.get("metadata") or {})}


def accept_header(request: rendering.Request) -> str:
    return next((value for name, value in request.headers.items() if name.lower() == "accept"), "")


FaultAction = Literal["status", "disconnect", "lose_answer", "stall", "garble", "crash"]


@dataclass
class Fault:
    """An injected failure: the next ``times`` matching requests get it instead of an answer.

    ``action``: ``status`` answers ``status`` (with ``Retry-After: retry_after`` when set);
    ``disconnect`` closes the connection unanswered before the request takes effect;
    ``lose_answer`` closes it unanswered after the request took effect; ``stall`` never
    answers (the client gives up); ``garble`` answers 200 with a body that is not JSON;
    ``crash`` takes the whole server down (see ``Emulator.outage``). ``dry_run``: match only
    dry runs (True), only real requests (False), or both (None). ``fired`` holds the
    ``time.monotonic()`` of each firing.
    """

    status: int
    verb: str | None
    plural: str | None
    times: int
    action: FaultAction = "status"
    retry_after: float | None = None
    dry_run: bool | None = None
    message: str | None = None
    """The Status's message, when not the default ``injected fault <status>``."""
    namespace: str | None = None
    """Match only requests in this namespace (any when None)."""
    label_selector: str | None = None
    """Match only requests with exactly this ``labelSelector`` (any when None)."""
    fired: list[float] = dataclasses.field(default_factory=list)

    def matches(self, request: rendering.Request) -> bool:
        verb = VERBS.get(request.action.name) if request.action is not None else None
        plural = request.resource.plural if request.resource is not None else None
        dry_run = bool(request.params.get("dryRun"))
        return (
            (self.verb is None or self.verb == verb)
            and (self.plural is None or self.plural == plural)
            and (self.dry_run is None or self.dry_run == dry_run)
            and (self.namespace is None or self.namespace == request.namespace)
            and (self.label_selector is None or self.label_selector == request.params.get("labelSelector"))
        )


def declare_resources(api: kmock.KubernetesEmulator) -> None:
    """The built-in kinds plus the ``AgentOSConfig`` custom resource, as the operator's cluster serves them."""
    api.resources.load_bundled()
    api.resources[AGENTOS] = kmock.ResourceInfo(
        kind="AgentOSConfig",
        singular="agentosconfig",
        namespaced=True,
        verbs={"create", "delete", "get", "list", "patch", "update", "watch"},
        shortnames={"aos"},
        subresources={"status", "scale"},
    )


def now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def selector_matches(labels: Mapping[str, str], selector: str) -> bool:
    """Equality-based and existence label selectors: ``a=b,c!=d,e,!f``."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def encode_string_data(body: Body) -> None:
    """Move a Secret's ``stringData`` into base64 ``data``, as the API server does on write."""
    string_data = body.pop("stringData", None) or {}
    if string_data:
        data = body.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def canonicalise_quantities(body: Body) -> None:
    """Rewrite container and claim resource quantities as the API server stores them (``0.5`` is ``500m``)."""
    spec = body.get("spec") or {}
    pod = ((spec.get("template") or {}).get("spec") or {}) if "template" in spec else spec
    lists = [
        container.get("resources") for container in (pod.get("containers") or []) + (pod.get("initContainers") or [])
    ]
    if body.get("kind") == "PersistentVolumeClaim":
        lists.append(spec.get("resources"))
    for resources in filter(None, lists):
        for amounts in (resources.get("requests"), resources.get("limits")):
            for name, amount in (amounts or {}).items():
                amounts[name] = canonical_resource_quantity(str(amount))


def released(previous: Mapping[str, Any], current: Mapping[str, Any]) -> Body:
    """A merge patch removing what ``previous`` set and ``current`` no longer sets (lists are atomic)."""
    patch: Body = {}
    for key, value in previous.items():
        if key not in current:
            patch[key] = None
        elif isinstance(value, Mapping) and isinstance(current[key], Mapping):
            nested = released(value, current[key])
            if nested:
                patch[key] = nested
    return patch


@attrs.define(kw_only=True)
class Emulator(kmock.KubernetesEmulator):
    """The stateful API server; tests also drive it directly with ``create``/``patch``/``delete``."""

    _revision: int = attrs.field(default=0, init=False)
    _journal: dict[references.resource, list[Body]] = attrs.field(
        factory=lambda: collections.defaultdict(list), init=False
    )
    _faults: list[Fault] = attrs.field(factory=list, init=False)
    # What each field manager last applied to each object (server-side apply's ownership, simplified).
    _applied: dict[tuple[Key, str], Body] = attrs.field(factory=dict, init=False)
    _listeners: list[Listener] = attrs.field(factory=list, init=False)
    # Stored objects by resource, namespace and name (see ``_stored``), and how many it covers.
    _index: dict[references.resource, dict[str | None, dict[str, Any]]] = attrs.field(
        factory=lambda: collections.defaultdict(lambda: collections.defaultdict(dict)), init=False
    )
    _indexed: int = attrs.field(default=0, init=False)
    # While down: the kmock server that stopped and the port it served on; the crash in progress.
    _stopped: tuple[kmock.Server, int] | None = attrs.field(default=None, init=False)
    _crash: asyncio.Task[None] | None = attrs.field(default=None, init=False)
    # The revision up to which each resource's watch history is forgotten (``expire_history``).
    _expired: dict[references.resource, int] = attrs.field(factory=dict, init=False)
    # Every answer about Secrets, as sent: the request, and the JSON body or watch event line.
    _secret_answers: list[tuple[rendering.Request, bytes]] = attrs.field(factory=list, init=False)

    # -- what tests call --------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        *,
        verb: str | None = None,
        plural: str | None = None,
        times: int = 1,
        retry_after: float | None = None,
        dry_run: bool | None = None,
        message: str | None = None,
        namespace: str | None = None,
    ) -> Fault:
        """Answer the next ``times`` requests matching ``verb`` (create, patch, get...), ``plural``
        and ``namespace`` (any when None) with ``status``.

        ``retry_after``: say so as a real API server does when it throttles, in the
        ``Retry-After`` header and the Status's ``details.retryAfterSeconds``. ``dry_run``:
        see ``Fault``. ``message``: the Status's message (the API server's own words).
        """
        fault = Fault(
            status=status,
            verb=verb,
            plural=plural,
            times=times,
            retry_after=retry_after,
            dry_run=dry_run,
            message=message,
            namespace=namespace,
        )
        return self._inject(fault)

    def disconnect_next(
        self, *, verb: str | None = None, plural: str | None = None, times: int = 1, after_write: bool = False
    ) -> Fault:
        """Close the connection of the next ``times`` matching requests without an answer.

        ``after_write``: once the request took effect, so the client cannot know it did (a
        server or load balancer dropping the connection before the answer was sent).
        """
        action: FaultAction = "lose_answer" if after_write else "disconnect"
        return self._inject(Fault(status=0, verb=verb, plural=plural, times=times, action=action))

    def stall_next(
        self, *, verb: str | None = None, plural: str | None = None, times: int = 1, label_selector: str | None = None
    ) -> Fault:
        """Never answer the next ``times`` matching requests (``label_selector``: those with exactly
        that selector): the client must give up by its timeout."""
        fault = Fault(status=0, verb=verb, plural=plural, times=times, action="stall", label_selector=label_selector)
        return self._inject(fault)

    def garble_next(self, *, verb: str | None = None, plural: str | None = None, times: int = 1) -> Fault:
        """Answer the next ``times`` matching requests 200 with an HTML page, as a misconfigured proxy would."""
        return self._inject(Fault(status=0, verb=verb, plural=plural, times=times, action="garble"))

    def crash_on_next(self, *, verb: str | None = None, plural: str | None = None) -> Fault:
        """Go down when the next matching request arrives, dropping it; ``outage`` brings the server back."""
        return self._inject(Fault(status=0, verb=verb, plural=plural, times=1, action="crash"))

    def clear_faults(self) -> None:
        """Forget every injected fault not yet consumed."""
        self._faults.clear()

    @property
    def down(self) -> bool:
        """Whether the server is down: not listening, every connection dropped."""
        return self._stopped is not None

    @contextlib.asynccontextmanager
    async def outage(self) -> AsyncIterator[None]:
        """Be down for the block (already, after ``crash_on_next`` fired, or from now), then serve again.

        Down is what a crashed or restarting API server looks like to its clients: new
        connections are refused and every open one, watch streams included, is closed
        unanswered. The server comes back on the same port with every object kept, as an
        API server restarts over its etcd.
        """
        if self._crash is not None:
            await self._crash
        if self._stopped is None:
            await self._go_down()
        try:
            yield
        finally:
            server, port = self._stopped or (None, 0)
            self._stopped, self._crash = None, None
            if server is not None:
                server._port = port  # kmock picks a free port unless told; the clients know this one
                await server.__aenter__()

    def _inject(self, fault: Fault) -> Fault:
        self._faults.append(fault)
        return fault

    async def _go_down(self) -> None:
        server = self.servers[0]
        self._stopped = (server, server.port)
        runner = server.server.runner
        assert runner is not None and runner.server is not None
        for site in list(runner.sites):
            await site.stop()  # refuse new connections first, so none slips in while the others close
        for connection in runner.server.connections:
            connection.force_close()
        await server.__aexit__(None, None, None)

    async def drop_watches(self) -> None:
        """End every open watch stream cleanly; clients must resume from their last resourceVersion."""
        async with self._lock:
            for bus in list(self._buses.values()):
                await bus.put(_DropWatches())

    def expire_history(self, resource: str) -> None:
        """Forget ``resource``'s watch history up to now, as etcd's compaction does.

        A watch asking to resume from an older resourceVersion then gets an ERROR event with
        a 410 (``Expired``, as the API server's watch cache sends it) and must list again.
        """
        key = references.resource(resource)
        self._expired[key] = self._revision
        self._journal[key] = [
            e for e in self._journal[key] if int(e["object"]["metadata"]["resourceVersion"]) > self._revision
        ]

    async def bookmark(self, resource: str) -> None:
        """Send a bookmark at the current revision to every open watch of ``resource`` that allows bookmarks."""
        async with self._lock:
            await self._buses[references.resource(resource)].put(_Bookmark(str(self._revision)))

    def secret_answers(self) -> list[tuple[rendering.Request, bytes]]:
        """Every answer about Secrets so far, as sent: objects, list pages, and each watch event's line."""
        return list(self._secret_answers)

    def listen(self, listener: Listener) -> None:
        """Call ``listener(resource, event)`` with every watch event, as it is published (in the server's loop)."""
        self._listeners.append(listener)

    def mark(self) -> int:
        """A position in the request log, for ``requests_since``."""
        return len(self._requests)

    def requests_since(self, mark: int) -> list[rendering.Request]:
        return list(self._requests[mark:])

    def writes_since(self, mark: int) -> list[rendering.Request]:
        return [r for r in self._requests[mark:] if r.method.value in WRITE_METHODS and not r.params.get("dryRun")]

    def read(self, resource: str, namespace: str | None, name: str) -> Body | None:
        """The current object, or None when absent."""
        key = (references.resource(resource), namespace, name)
        return copy.deepcopy(self._objects[key].raw) if self._is_live(key) else None

    def list_objects(self, resource: str, namespace: str | None = None) -> list[Body]:
        stored = self._stored(references.resource(resource), namespace)
        return [copy.deepcopy(obj.raw) for _, obj in stored if not obj.deleted]

    async def create(self, resource: str, body: Body, *, namespace: str | None = None) -> Body:
        async with self._lock:
            return await self._create(references.resource(resource), namespace, body)

    async def patch(
        self, resource: str, namespace: str | None, name: str, patch: Any, *, subresource: str | None = None
    ) -> Body:
        key = (references.resource(resource), namespace, name)
        async with self._lock:
            return await self._patch(key, patch, subresource=subresource)

    async def delete(self, resource: str, namespace: str | None, name: str) -> None:
        async with self._lock:
            await self._delete((references.resource(resource), namespace, name))

    # -- request dispatch -------------------------------------------------------------------------

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        # kmock cannot parse /api/v1/namespaces[/name]: it crashes with a 500. Parse those here.
        match = NAMESPACES_PATH.fullmatch(raw_request.path)
        if match is None:
            return await super().__call__(raw_request)
        request = await self._parse_namespace_request(raw_request, name=match[1], subresource=match[2])
        self._requests.append(request)
        try:
            return await self._handle(request)
        except rendering.StreamingError:
            raise
        except Exception as e:
            return await self._render_error(e)

    async def _parse_namespace_request(
        self, raw_request: aiohttp.web.BaseRequest, *, name: str | None, subresource: str | None
    ) -> rendering.Request:
        body = await raw_request.read()
        text = await raw_request.text()
        try:
            data = json.loads(text) if text else None
        except ValueError:
            data = None
        parsed = parsing.ParsedPath(group="", version="v1", plural="namespaces", name=name, subresource=subresource)
        method = enums.method(raw_request.method)
        return rendering.Request(
            id=len(self._requests),
            raw_request=raw_request,
            url=raw_request.url,
            method=raw_request.method,
            params=dict(raw_request.query),
            headers=dict(raw_request.headers),
            data=data,
            body=body,
            text=text,
            action=parsing.guess_k8s(parsed, method, dict(raw_request.query)),
            resource=NAMESPACES,
            namespace=None,
            name=name,
            subresource=subresource,
        )

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        fault = self._take_fault(request)
        if fault is not None and fault.action != "lose_answer":
            return await self._misbehave(fault, request)
        response = await self._serve(request)
        if request.resource == SECRETS and isinstance(response, aiohttp.web.Response) and response.body is not None:
            assert isinstance(response.body, bytes)
            self._secret_answers.append((request, response.body))  # watch events are recorded as streamed
        if fault is not None:
            self._drop_connection(request)
        return response

    async def _serve(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        resource, action = request.resource, request.action
        form = metadata_form(accept_header(request)) if resource is not None else None
        if form == (PARTIAL if action == enums.action.LIST else PARTIAL_LIST):
            kind = "a list" if form == PARTIAL_LIST else "an object"
            raise kmock.KubernetesError(
                status=406, reason="NotAcceptable", message=f"you requested {form}, but the answer is not {kind}"
            )
        if resource is None or resource.plural is None or action is None or action == enums.action.WATCH:
            return await super(kmock.KubernetesEmulator, self)._handle(request)  # discovery, watch streams
        self._require_known(resource)
        async with self._lock:
            key = (resource, request.namespace, request.name or "")
            if action == enums.action.CREATE:
                if request.params.get("dryRun") == "All":  # judged, never stored
                    if self._is_live(
                        (resource, request.namespace, (request.data or {}).get("metadata", {}).get("name"))
                    ):
                        raise kmock.KubernetesError(status=409, reason="AlreadyExists", message="already exists")
                    return aiohttp.web.json_response(copy.deepcopy(request.data), status=201)
                return aiohttp.web.json_response(
                    await self._create(resource, request.namespace, request.data), status=201
                )
            if action == enums.action.UPDATE:
                return await self._serve_patch(key, request)
            if action == enums.action.DELETE:
                return aiohttp.web.json_response(await self._delete(key))
            if action == enums.action.FETCH:
                if not self._is_live(key):
                    raise kmock.KubernetesObjectNotFoundError()
                found = self._objects[key].raw
                return aiohttp.web.json_response(as_partial(found) if form == PARTIAL else found)
            return aiohttp.web.json_response(self._serve_listing(request))

    def _take_fault(self, request: rendering.Request) -> Fault | None:
        for fault in self._faults:
            if fault.times > 0 and fault.matches(request):
                fault.times -= 1
                fault.fired.append(time.monotonic())
                return fault
        return None

    async def _misbehave(self, fault: Fault, request: rendering.Request) -> aiohttp.web.StreamResponse:
        if fault.action == "status":
            reason = {409: "Conflict", 404: "NotFound", 422: "Invalid", 429: "TooManyRequests"}.get(
                fault.status, "InternalError"
            )
            details = {"retryAfterSeconds": fault.retry_after} if fault.retry_after is not None else None
            raise kmock.KubernetesError(
                status=fault.status,
                reason=reason,
                message=fault.message or f"injected fault {fault.status}",
                details=details,
            )
        if fault.action == "garble":
            return aiohttp.web.Response(text="<html><body>502 Bad Gateway</body></html>", content_type="text/html")
        if fault.action == "stall":
            await asyncio.get_running_loop().create_future()  # cancelled when the client hangs up
        if fault.action == "crash" and self._crash is None:
            self._crash = asyncio.create_task(self._go_down())
        self._drop_connection(request)
        return aiohttp.web.Response(status=500)  # never sent: its connection is closed

    @staticmethod
    def _drop_connection(request: rendering.Request) -> None:
        transport = request._raw_request.transport if request._raw_request is not None else None
        if transport is not None:
            transport.close()

    def _require_known(self, resource: references.resource) -> None:
        # Declared resources first: kmock's full list walks every stored object, per request.
        if resource not in self._resources and resource not in self._get_resources():
            raise kmock.KubernetesResourceNotFoundError()

    async def _serve_patch(self, key: Key, request: rendering.Request) -> aiohttp.web.StreamResponse:
        patch = request.data
        if request.headers.get("Content-Type", "").startswith(APPLY_PATCH):
            if not request.params.get("fieldManager"):
                raise kmock.KubernetesError(
                    status=400, reason="BadRequest", message="fieldManager is required for apply"
                )
            applied = patch if patch is not None else yaml.safe_load(request.text)
            manager = (key, request.params["fieldManager"])
            if request.params.get("dryRun") == "All":  # judged, never stored
                if not self._is_live(key):
                    return aiohttp.web.json_response(copy.deepcopy(applied), status=201)
                merged = dict(dicts.merge_patch_dict(released(self._applied.get(manager) or {}, applied), applied))
                old = self._live(key)
                return aiohttp.web.json_response(
                    self._protect(key[0], old, self._apply_patch(old, merged), subresource=None)
                )
            previous, self._applied[manager] = self._applied.get(manager), applied
            if not self._is_live(key):  # server-side apply creates what is missing
                return aiohttp.web.json_response(await self._create(key[0], key[1], applied), status=201)
            # Fields this manager applied before and applies no more are released, hence removed.
            patch = dict(dicts.merge_patch_dict(released(previous or {}, applied), applied))
        body = await self._patch(key, patch, subresource=request.subresource)
        return aiohttp.web.json_response(body)

    # -- state changes (callers hold self._lock) --------------------------------------------------

    def _is_live(self, key: Key) -> bool:
        return key in self._objects and not self._objects[key].deleted

    def _live(self, key: Key) -> Body:
        if not self._is_live(key):
            raise kmock.KubernetesObjectNotFoundError()
        return copy.deepcopy(self._objects[key].raw)

    def _next_revision(self) -> str:
        self._revision += 1
        return str(self._revision)

    async def _publish(self, resource: references.resource, kind: str, body: Body) -> None:
        event = {"type": kind, "object": copy.deepcopy(body)}
        self._journal[resource].append(event)
        for listener in self._listeners:
            listener(resource, event)
        await self._buses[resource].put(event)

    async def _create(self, resource: references.resource, namespace: str | None, data: Any) -> Body:
        body: Body = copy.deepcopy(data) if isinstance(data, Mapping) else {}
        meta = body.setdefault("metadata", {})
        namespace = namespace or meta.get("namespace")
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if not meta.get("name"):
            raise kmock.KubernetesError(status=422, reason="Invalid", message="metadata.name: Required value")
        key = (resource, namespace, meta["name"])
        if self._is_live(key):
            raise kmock.KubernetesError(status=409, reason="AlreadyExists", message=f"{meta['name']} already exists")
        for field in SERVER_METADATA[:-1]:
            meta.pop(field, None)
        if namespace is not None:
            meta["namespace"] = namespace
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=now(), generation=1, resourceVersion=self._next_revision())
        if resource == SECRETS:
            encode_string_data(body)
        canonicalise_quantities(body)
        if key in self._objects:
            self._objects[key].create(body)
        else:
            self._objects[key] = body
            if self._indexed == len(self._objects) - 1:  # else the next read re-indexes everything
                self._index[resource][namespace][meta["name"]] = self._objects[key]
                self._indexed += 1
        await self._publish(resource, "ADDED", body)
        return copy.deepcopy(body)

    async def _patch(self, key: Key, patch: Any, *, subresource: str | None) -> Body:
        old = self._live(key)
        new = self._apply_patch(old, patch)
        new = self._protect(key[0], old, new, subresource=subresource)
        if key[0] == SECRETS:
            encode_string_data(new)
        canonicalise_quantities(new)
        if new == old:  # a write that changes nothing is not a new version: no event
            return old
        if new.get("spec") != old.get("spec"):
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        new["metadata"]["resourceVersion"] = self._next_revision()
        self._objects[key].history.append(new)
        meta = new["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            return await self._remove(key)
        await self._publish(key[0], "MODIFIED", new)
        return copy.deepcopy(new)

    @staticmethod
    def _apply_patch(old: Body, patch: Any) -> Body:
        if isinstance(patch, list):
            try:
                result: Body = jsonpatch.apply_patch(old, patch, in_place=False)
            except jsonpatch.JsonPatchTestFailed as e:
                raise kmock.KubernetesError(status=422, reason="Invalid", message=f"test failed: {e}") from e
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as e:
                raise kmock.KubernetesError(status=422, reason="Invalid", message=str(e)) from e
            return result
        if not isinstance(patch, Mapping):
            raise kmock.KubernetesError(
                status=400, reason="BadRequest", message="the patch must be an object or a list"
            )
        expected = (patch.get("metadata") or {}).get("resourceVersion")
        if expected is not None and str(expected) != old["metadata"]["resourceVersion"]:
            raise kmock.KubernetesError(
                status=409,
                reason="Conflict",
                message="the object has been modified; please apply your changes to the latest version",
            )
        return dict(dicts.merge_patch_dict(old, patch))

    def _protect(self, resource: references.resource, old: Body, new: Body, *, subresource: str | None) -> Body:
        """Undo what a client may not change: server metadata, and status/spec across the subresource line."""
        if subresource == "status":
            result = copy.deepcopy(old)
            if "status" in new:
                result["status"] = new["status"]
            else:
                result.pop("status", None)
            return result
        meta = new.setdefault("metadata", {})
        for field in SERVER_METADATA:
            if field in old["metadata"]:
                meta[field] = old["metadata"][field]
            else:
                meta.pop(field, None)
        if "status" in self._resources[resource].subresources:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        return new

    async def _delete(self, key: Key) -> Body:
        body = self._live(key)
        meta = body["metadata"]
        if meta.get("deletionTimestamp"):
            return body
        if meta.get("finalizers"):
            meta.update(deletionTimestamp=now(), resourceVersion=self._next_revision())
            self._objects[key].history.append(body)
            await self._publish(key[0], "MODIFIED", body)
            return copy.deepcopy(body)
        return await self._remove(key)

    async def _remove(self, key: Key) -> Body:
        """Delete for real, then collect what the object owned, as the garbage collector would."""
        body = self._live(key)
        body["metadata"]["resourceVersion"] = self._next_revision()
        self._objects[key].delete()
        await self._publish(key[0], "DELETED", body)
        await self._collect_dependents(body["metadata"]["uid"])
        return body

    async def _collect_dependents(self, owner_uid: str) -> None:
        live_uids = {obj.raw["metadata"].get("uid") for obj in self._objects.values() if not obj.deleted}
        for key, obj in list(self._objects.items()):
            if obj.deleted:
                continue
            refs = obj.raw["metadata"].get("ownerReferences") or []
            if not any(ref.get("uid") == owner_uid for ref in refs):
                continue
            remaining = [ref for ref in refs if ref.get("uid") != owner_uid and ref.get("uid") in live_uids]
            if remaining:
                await self._patch(key, {"metadata": {"ownerReferences": remaining}}, subresource=None)
            elif self._is_live(key):
                await self._delete(key)

    # -- reading ----------------------------------------------------------------------------------

    def _matching(self, request: rendering.Request) -> list[Body]:
        labels = request.params.get("labelSelector", "")
        fields = dict(f.split("=", 1) for f in request.params.get("fieldSelector", "").split(",") if "=" in f)
        found = []
        assert request.resource is not None
        for name, obj in self._stored(request.resource, request.namespace):
            if obj.deleted:
                continue
            body = obj.raw
            if not selector_matches(body["metadata"].get("labels") or {}, labels):
                continue
            if fields.get("metadata.name", name) != name:
                continue
            found.append(body)  # only serialised: stored versions are never changed in place
        return found

    def _stored(self, resource: references.resource, namespace: str | None) -> list[tuple[str, Any]]:
        """(name, kmock object) of every object ever stored for ``resource`` (in ``namespace`` unless None).

        From an index by resource and namespace: a scan of every object per list would make the
        emulator, not the client, the cost of a large test. Objects a test stored directly in
        ``objects`` (bypassing ``create``) are picked up by re-indexing when the count differs.
        """
        if self._indexed != len(self._objects):
            self._index.clear()
            for (res, ns, name), obj in self._objects.items():
                self._index[res][ns][name] = obj
            self._indexed = len(self._objects)
        by_namespace = self._index.get(resource, {})
        namespaces = list(by_namespace) if namespace is None else [namespace]
        return [item for ns in namespaces for item in by_namespace.get(ns, {}).items()]

    def _serve_listing(self, request: rendering.Request) -> Body:
        """A list, in pages when asked (``limit``, ``continue``: ``<resourceVersion>:<offset>``).

        Later pages slice the current objects, not a snapshot taken with the first page as a
        real API server does: good enough while nothing changes during a listing.
        """
        assert request.resource is not None
        info = self._resources[request.resource]
        kind = info.kind or request.resource.plural.capitalize()
        group_version = "/".join(filter(None, (request.resource.group, request.resource.version)))
        version, _, offset = (request.params.get("continue") or f"{self._revision}:0").partition(":")
        items = self._matching(request)[int(offset) :]
        limit = int(request.params.get("limit") or 0)
        metadata = {"resourceVersion": version, "continue": ""}
        if limit and len(items) > limit:
            items, metadata["continue"] = items[:limit], f"{version}:{int(offset) + limit}"
        if metadata_form(accept_header(request)) == PARTIAL_LIST:
            items = [as_partial(item) for item in items]
            return {"apiVersion": META_GROUP_VERSION, "kind": PARTIAL_LIST, "metadata": metadata, "items": items}
        # As an API server lists: the items without their apiVersion and kind, which the list says.
        items = [{key: value for key, value in item.items() if key not in ("apiVersion", "kind")} for item in items]
        return {"apiVersion": group_version, "kind": f"{kind}List", "metadata": metadata, "items": items}

    async def _serve_watch(self, request: rendering.Request) -> AsyncIterator[rendering.Payload]:
        yield b""  # send the headers now: a quiet watch must still be a started stream
        assert request.resource is not None
        since = request.params.get("resourceVersion")
        labels = request.params.get("labelSelector", "")
        bus = self._buses[request.resource]
        expired = self._expired.get(request.resource, 0)
        if since not in (None, "", "0") and int(since) < expired:
            yield self._sent(request, self._expired_event(int(since), expired))
            return
        async with self._lock:  # the snapshot and the bus mark are taken together: no event falls between
            marker = await bus.mark()
            if since in (None, "", "0"):
                backlog = [{"type": "ADDED", "object": body} for body in self._matching(request)]
            else:
                journal = self._journal[request.resource]
                backlog = [e for e in journal if int(e["object"]["metadata"]["resourceVersion"]) > int(since)]
        try:
            for event in backlog:
                if self._event_matches(request, event, labels):
                    yield self._sent(request, event)
            async for item in bus.stream(since=marker):
                if isinstance(item, _DropWatches):
                    return
                if isinstance(item, _Bookmark):
                    if request.params.get("allowWatchBookmarks") == "true":
                        yield self._sent(request, self._bookmark_event(request, item.resource_version))
                elif self._event_matches(request, item, labels):
                    yield self._sent(request, item)
        finally:
            await bus.unmark(marker)

    def _sent(self, request: rendering.Request, event: Body) -> Body:
        """A watch event as sent to ``request``: cut to metadata when it asked for that; recorded for Secrets."""
        if event["type"] != "ERROR" and metadata_form(accept_header(request)) == PARTIAL:
            event = {"type": event["type"], "object": as_partial(event["object"])}
        if request.resource == SECRETS:
            self._secret_answers.append((request, json.dumps(event).encode()))
        return event

    def _bookmark_event(self, request: rendering.Request, resource_version: str) -> Body:
        """A bookmark: an object of the watched kind with nothing but the resourceVersion it marks."""
        assert request.resource is not None
        info = self._resources[request.resource]
        group_version = "/".join(filter(None, (request.resource.group, request.resource.version)))
        kind = info.kind or str(request.resource.plural).capitalize()
        body = {"apiVersion": group_version, "kind": kind, "metadata": {"resourceVersion": resource_version}}
        return {"type": "BOOKMARK", "object": body}

    @staticmethod
    def _expired_event(since: int, oldest: int) -> Body:
        status = {"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure", "code": 410}
        status.update(reason="Expired", message=f"too old resource version: {since} ({oldest})")
        return {"type": "ERROR", "object": status}

    @staticmethod
    def _event_matches(request: rendering.Request, event: Body, labels: str) -> bool:
        meta = event["object"].get("metadata", {})
        if request.namespace is not None and meta.get("namespace") != request.namespace:
            return False
        if request.name is not None and meta.get("name") != request.name:
            return False
        return selector_matches(meta.get("labels") or {}, labels)

    async def _render_error(self, exc: Exception) -> aiohttp.web.StreamResponse:
        # An API server's Status, without the traceback kmock attaches: formatting one per 404
        # would make "not found" the emulator's most expensive answer.
        if not isinstance(exc, kmock.KubernetesError):
            return await super()._render_error(exc)
        status = {"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure", "code": exc.status}
        status.update(
            reason=exc.reason or type(exc).__name__, message=exc.message or repr(exc), details=exc.details or {}
        )
        retry_after = (exc.details or {}).get("retryAfterSeconds") if isinstance(exc.details, Mapping) else None
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
        return aiohttp.web.json_response(status, status=exc.status, headers=headers)

    # -- discovery --------------------------------------------------------------------------------

    async def _serve_version(self, request: rendering.Request) -> rendering.Payload:
        payload = await super()._serve_version(request)
        assert isinstance(payload, dict)
        payload["groupVersion"] = payload["groupVersion"].lstrip("/")  # kmock says "/v1" for the core group
        return payload
