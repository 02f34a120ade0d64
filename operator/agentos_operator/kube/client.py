"""An async Kubernetes API client: the handful of verbs the operator needs, with typed errors.

Why our own: kopf is not an API client, and the official ``kubernetes`` package is synchronous
and by kopf's own measurement most of a kopf operator's memory. This client authenticates with
the same ``kopf.ConnectionInfo`` kopf logs in with, over aiohttp (which kopf already brings),
and re-reads the credentials once on a 401 (service-account tokens rotate).

Every failure is an ``ApiError``, so that callers handle one type: an HTTP error status, and
also no usable answer at all (``ApiUnavailableError``), which is what an API server restarting
or a load balancer in trouble looks like. As kopf does, every transport error is taken in:
``aiohttp.ClientError`` and its kinds (connection refused or reset, the server disconnecting,
a body cut short, an answer that is not HTTP) and timeouts, and also a body that is not a JSON
object (not JSON, not UTF-8, nested past the decoder's depth). The client retries nothing
itself but the 401: whoever called decides, and the reconciler re-reads before it writes again.
Nor does it follow redirects, which an API server never sends: a 3xx is an ``ApiError`` with
its status, and the token goes nowhere else.

Errors quote nothing received and no credential. The exceptions that would are not chained
as the cause: a decoder's error holds the whole body (``JSONDecodeError.doc``), which may be a
Secret, and aiohttp's ``ClientResponseError`` holds the request's headers (the bearer token)
and the bytes it could not parse.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno as errnos
import json
import logging
import math
import os
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import aiohttp
import kopf

from agentos_operator.errors import OperatorError
from agentos_operator.kube.kinds import Kind, kind_of

logger = logging.getLogger(__name__)

Credentials = Callable[[], kopf.ConnectionInfo]
ErrorHook = Callable[[str, int], None]
Body = dict[str, Any]

APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"
# What a YAML reader may not take raw inside a document (YAML 1.2 §5.1, c-printable), or reads
# as a line break (NEL, LINE and PARAGRAPH SEPARATOR): C1 controls, a byte-order mark, U+FFFE,
# U+FFFF, and surrogates (which only an unpaired one would leave in a str).
_NOT_YAML_PRINTABLE = re.compile("[\x80-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")
# Statuses worth retrying: conflicts, throttling, server trouble. Others need a person.
TRANSIENT_STATUSES = frozenset({409, 429})
# Server-side apply answers 500 when it cannot type the object it was sent (a list keyed by
# name holding one name twice): the object is at fault, not the server, and no retry can help.
UNTYPABLE_APPLY = "failed to create typed patch object"
# etcd refuses an object past its request limit (1.5 MiB by default) with a 500 that a dry run,
# which never reaches etcd, cannot foresee: the object is too large, and stays so on a retry.
ETCD_TOO_LARGE = "etcdserver: request is too large"
# A namespace being deleted refuses new objects in it (403): not the spec's doing, and over once
# the namespace and the resource in it are gone.
NAMESPACE_TERMINATING = "because it is being terminated"
# The cause the API server's Status gives that refusal (``details.causes[].reason``): how it is
# known where its words are not kept (a Secret's, ``status_error``).
NAMESPACE_TERMINATING_CAUSE = "NamespaceTerminating"
# The authorizer's refusal (RBAC), in the API server's words: `<resource> "<name>" is forbidden:
# User "<user>" cannot <verb> resource "<resource>" in API group "<group>" in the namespace "<ns>"`
# (no name for a list; `at the cluster scope`; `forbidden: User ... cannot get path "/x"`). Built
# from the request's attributes alone, before its body is read: kept even from a Secret's answer,
# whose other words may quote what was sent.
AUTHORIZER_REFUSAL = re.compile(
    r'(?:[^\s"]+(?: "[^"]*")? is )?forbidden: User "[^"]*" cannot [a-z]+ (?:resource|path) "[^"]*"'
    r'(?: in API group "[^"]*")?(?: in the namespace "[^"]*"| at the cluster scope)?'
)
# The ResourceQuota admission plugin's refusal: `<resource> "<name>" is forbidden: exceeded quota:
# <quota>, requested: <resource>=<quantity>,..., used: ..., limited: ...`. The words after the quota's
# name may be cut (``MESSAGE_MAX_LENGTH``); the quota is what a person raises.
QUOTA_REFUSAL = re.compile(r'(?:[^\s"]+(?: "[^"]*")? is )?forbidden: exceeded quota: (?P<quota>[a-z0-9][-a-z0-9.]*)')
# Its whole words, names and quantities only (``_QUANTITIES``): kept even from a Secret's answer.
_QUANTITIES = r"[A-Za-z0-9./_-]+=[0-9A-Za-z.+-]+(?:,[A-Za-z0-9./_-]+=[0-9A-Za-z.+-]+)*"
QUOTA_REFUSAL_WHOLE = re.compile(
    rf'[a-z0-9.]+ "[a-z0-9][-a-z0-9.]*" is forbidden: exceeded quota: [a-z0-9][-a-z0-9.]*, '
    rf"requested: {_QUANTITIES}, used: {_QUANTITIES}, limited: {_QUANTITIES}"
)
# How long the authorizer's refusals in a row are retried quietly before they are reported: an
# API server that just started refuses every request until it has read the RBAC objects, for a
# few seconds (``reconcile._forbidden_for_now``, ``metadata_watch.MetadataWatch``).
FORBIDDEN_GRACE_SECONDS = 30.0
# What a 403 of the operator's own permissions says to do. The chart's Role in a watched namespace
# goes when that namespace is deleted: one made again is refused until the release is upgraded.
FORBIDDEN_REMEDY = (
    "the operator's service account may not do this: grant it (the chart's ClusterRole, or with "
    "watched namespaces named, its Role in each; `helm upgrade` makes a Role again after its "
    "namespace was deleted and made again)"
)
# The API server's message is kept for the log and the status, cut to a readable length in its
# middle (``cut_between``).
MESSAGE_MAX_LENGTH = 300
# Requests under way at once, watches aside. Each needs a connection of its own (HTTP/1.1), and
# each TLS connection holds a read buffer (``running.TLS_READ_BUFFER``): a cold start's
# reconciles (10 at once, their dry runs together) opened 100, 13 MiB at asyncio's size, without
# finishing sooner, as the API server is what they wait for. A request beyond the limit waits
# here, as it would wait at the server.
MAX_REQUESTS = 32
# The status of a request that got no usable answer: there is no HTTP status to tell.
UNAVAILABLE = 0
# Metadata only, as client-go's metadata client asks (controller-runtime's metadata-only watches):
# a list as one PartialObjectMetadataList, each watch event's object as a PartialObjectMetadata.
# Plain JSON comes last, as there: a server unable to convert answers full objects rather than
# 406, and the caller cuts them down on arrival.
METADATA_LIST_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
METADATA_ACCEPT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"


def apply_patch_body(payload: Any) -> bytes:
    """A server-side apply body: JSON, which is YAML, in UTF-8, as the API server's YAML reader
    takes it.

    Plain ``json.dumps`` writes a character beyond U+FFFF (an emoji in an agent's
    instructions) as a surrogate-pair escape, ``\\ud83e\\udd16``, which that reader refuses
    ("found invalid Unicode character escape code"): such characters are sent as themselves.
    The few a YAML reader may not take raw are escaped, which only ever happens inside strings
    (JSON writes nothing else outside ASCII).
    """
    text = json.dumps(payload, ensure_ascii=False)
    return _NOT_YAML_PRINTABLE.sub(lambda found: f"\\u{ord(found.group()):04x}", text).encode("utf-8")


class ApiError(OperatorError):
    """The API server refused or failed a request. The message names the object, never its data.

    ``retry_after``: the seconds the server asked the client to wait before trying again
    (429 and 5xx answers may say so), or None. ``causes``: the reasons of the Status's
    ``details.causes`` (``FieldValueInvalid``, ``NamespaceTerminating``: names, never data).
    """

    def __init__(
        self,
        *,
        verb: str,
        path: str,
        status: int,
        reason: str,
        message: str,
        retry_after: float | None = None,
        causes: Sequence[str] = (),
    ) -> None:
        self.verb = verb
        self.path = path
        self.status = status
        self.reason = reason
        self.retry_after = retry_after
        self.causes = tuple(causes)
        self.detail = message  # the API server's own words (field path included), never a Secret's
        said = f"{verb} {path}: {status} {reason}" + (f": {message}" if message else "")
        super().__init__(said + (f": {FORBIDDEN_REMEDY}" if self.denied else ""))

    @property
    def transient(self) -> bool:
        """Whether the same request may succeed later without anyone changing anything."""
        if self.status == 500 and (self.detail.startswith(UNTYPABLE_APPLY) or ETCD_TOO_LARGE in self.detail):
            return False
        if self.namespace_terminating:
            return True
        return self.status in TRANSIENT_STATUSES or self.status >= 500

    @property
    def namespace_terminating(self) -> bool:
        """Whether the object's namespace is being deleted: expected, and over once it is gone."""
        return self.status == 403 and (
            NAMESPACE_TERMINATING_CAUSE in self.causes or NAMESPACE_TERMINATING in self.detail
        )

    @property
    def unauthorized(self) -> bool:
        """Whether the authorizer refused the request (``AUTHORIZER_REFUSAL``): the operator's
        grants are at fault, not what it sent, and they may be there in a moment (an API server
        that just started has not read them yet; an RBAC change is under way)."""
        return self.status == 403 and AUTHORIZER_REFUSAL.match(self.detail) is not None

    @property
    def quota(self) -> str | None:
        """The name of the namespace's ResourceQuota that refused the request (``QUOTA_REFUSAL``), or None."""
        found = QUOTA_REFUSAL.match(self.detail) if self.status == 403 else None
        return found["quota"] if found is not None else None

    @property
    def denied(self) -> bool:
        """Whether the operator's permissions refused the request (a 403 other than a namespace
        being deleted or a quota exceeded): its message then says where they come from (``FORBIDDEN_REMEDY``)."""
        return self.status == 403 and not self.namespace_terminating and self.quota is None


class ApiUnavailableError(ApiError):
    """No usable answer: the connection failed or dropped, the request timed out, or the body was unreadable.

    Status 0 and always transient. A write that ends so may or may not have taken effect
    (the server may have applied it before the connection dropped): its caller must not
    assume either. Ours re-read before writing again, and a create retried after it did take
    effect gets a 409, which its callers treat as done.
    """

    @property
    def transient(self) -> bool:
        return True


class ApiNotFoundError(ApiError):
    """404: the object (or its namespace) does not exist."""


class ApiConflictError(ApiError):
    """409: the object already exists, or changed since it was read."""


def _error_class(status: int) -> type[ApiError]:
    return {404: ApiNotFoundError, 409: ApiConflictError}.get(status, ApiError)


def cause_reasons(details: Any) -> tuple[str, ...]:
    """Pure: the ``reason`` of each of a Status's ``details.causes``, those that are strings."""
    causes = details.get("causes") if isinstance(details, Mapping) else None
    if not isinstance(causes, list):
        return ()
    return tuple(c["reason"] for c in causes if isinstance(c, Mapping) and isinstance(c.get("reason"), str))


def cut_between(message: str, limit: int) -> str:
    """Pure: ``message`` within ``limit`` characters, cut in its middle (`` … `` marks the cut).
    An API server's refusal names the object first and says why last, after a dump of what was
    sent (``...Invalid value: policy.PodDisruptionBudgetSpec{...}: minAvailable and
    maxUnavailable cannot be both set``): both ends are what a reader needs."""
    if len(message) <= limit:
        return message
    head = message[: limit * 2 // 3].rstrip()
    tail = message[len(message) - (limit - len(head) - 3) :].lstrip()
    return f"{head} … {tail}"


def status_error(
    verb: str, path: str, status: int, payload: Mapping[str, Any], *, reason: str | None, retry_after: str | None = None
) -> ApiError:
    """Pure: the ``ApiError`` of an API server's Status ``payload``, answered with ``status``.

    A Secret's message may quote what was sent: only its status, reason and causes are kept, and
    the causes still tell a refusal in a namespace being deleted (``namespace_terminating``);
    of the authorizer's refusal, which quotes nothing sent, its words (``AUTHORIZER_REFUSAL``);
    of a quota's, made of names and quantities only, its whole words (``QUOTA_REFUSAL_WHOLE``).
    """
    said = str(payload.get("message") or "")
    if "/secrets" in path:
        refusal = AUTHORIZER_REFUSAL.match(said) if status == 403 else None
        quota = QUOTA_REFUSAL_WHOLE.fullmatch(said) if status == 403 else None
        said = refusal.group() if refusal is not None else quota.group() if quota is not None else ""
    message = cut_between(said, MESSAGE_MAX_LENGTH)
    return _error_class(status)(
        verb=verb,
        path=path,
        status=status,
        reason=str(payload.get("reason") or reason or ""),
        message=message,
        retry_after=retry_after_seconds(status, retry_after, payload.get("details")),
        causes=cause_reasons(payload.get("details")),
    )


def retry_after_seconds(status: int, header: str | None, details: Any) -> float | None:
    """Pure: how long the server asked to wait, from a 429 or 5xx answer; None when it did not say.

    The API server says it twice, in the ``Retry-After`` header (delta-seconds) and in the
    Status's ``details.retryAfterSeconds``; the header wins. As with client-go, only
    throttling and server errors are read, and an HTTP-date (which the API server never
    sends) counts as unsaid.
    """
    if status != 429 and not 500 <= status <= 599:
        return None
    candidates = [header, details.get("retryAfterSeconds") if isinstance(details, Mapping) else None]
    for candidate in candidates:
        try:
            seconds = float(candidate) if candidate is not None else math.nan
        except (TypeError, ValueError):
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


def unavailable_cause(error: BaseException) -> tuple[str, str]:
    """Pure: (reason, message) of a request that got no usable answer because of ``error``.

    The message says what happened, never what was received: a half-read body may be a Secret.
    """
    if isinstance(error, TimeoutError):  # first: aiohttp's timeouts are also connection errors
        return "Timeout", "no answer in time"
    if isinstance(error, aiohttp.ClientConnectorError):
        return "ConnectionFailed", f"could not connect: {_os_error_text(error.os_error) or type(error).__name__}"
    if isinstance(error, aiohttp.ClientResponseError):  # raised for an answer aiohttp cannot parse as HTTP
        return "NotHttp", "the answer is not HTTP: is the server address an API server's?"
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return "Disconnected", "the server closed the connection before answering"
    if isinstance(error, aiohttp.ClientPayloadError):
        return "IncompleteAnswer", "the answer was cut short"
    if isinstance(error, aiohttp.ClientConnectionError):
        return "Disconnected", f"the connection failed: {type(error).__name__}"
    if isinstance(error, ValueError):  # the body did not parse: JSONDecodeError, UnicodeDecodeError
        return "UnreadableAnswer", "the answer is not JSON"
    return "Unavailable", f"the request failed: {type(error).__name__}"


def _os_error_text(error: OSError) -> str:
    """``Connection refused`` rather than asyncio's ``Connect call failed ('10.0.0.1', 443)``."""
    if error.errno is not None and error.errno in errnos.errorcode:
        return os.strerror(error.errno)
    return str(error.strerror or "")


def decode_object(body: bytes) -> Body | None:
    """Pure: ``body`` as a JSON object, or None when it is none (not JSON, not UTF-8, too deep, not an object).

    What the decoder raised is dropped here, not passed on: it holds the body.
    """
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: JSON nested past the decoder's depth
        return None
    return value if isinstance(value, dict) else None


def chainable(error: BaseException) -> BaseException | None:
    """Pure: ``error`` when it may be kept as an ``ApiError``'s cause, None when it holds what must not be logged.

    aiohttp's ``ClientResponseError`` (and its kinds) carries the request's headers, bearer
    token included, and quotes the bytes it could not parse.
    """
    return None if isinstance(error, aiohttp.ClientResponseError) else error


class ApiClient:
    """One HTTP session to the API server. Create it inside the loop that uses it; ``close`` it after."""

    def __init__(self, credentials: Credentials, *, timeout: float, on_error: ErrorHook | None = None) -> None:
        self._credentials = credentials
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._on_error = on_error
        self._session: aiohttp.ClientSession | None = None
        self._under_way = asyncio.Semaphore(MAX_REQUESTS)
        # Requests under way on each session: one retired after a 401 closes with its last request.
        self._users: dict[aiohttp.ClientSession, int] = {}
        self._server = ""

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _log_in_again(self, refused: aiohttp.ClientSession) -> None:
        """Retire the session a 401 came through, so that the next request reads the credentials again.

        Only that one: requests refused together all call this, and the first may have opened
        the new session already. The retired session is not closed here, as other requests
        may still be reading answers through it: its last one closes it (``_using_session``).
        """
        if self._session is refused:
            self._session = None

    @contextlib.asynccontextmanager
    async def _using_session(self) -> AsyncIterator[aiohttp.ClientSession]:
        """The current session (opened if none), counted as in use for the block; a retired one closes after its last use."""
        session = self._ensure_session()
        self._users[session] = self._users.get(session, 0) + 1
        try:
            yield session
        finally:
            self._users[session] -= 1
            if not self._users[session]:
                del self._users[session]
                if session is not self._session:
                    await session.close()

    async def get(self, kind: Kind, namespace: str | None, name: str) -> Body | None:
        """The object, or None when it does not exist."""
        try:
            result: Body = await self._request("get", "GET", kind.path(namespace, name))
        except ApiNotFoundError:
            return None
        return result

    async def list(
        self, kind: Kind, namespace: str | None, *, label_selector: str | None = None, limit: int | None = None
    ) -> list[Body]:
        """The objects (``label_selector``: those it selects), or only the first ``limit`` of them."""
        params = {"labelSelector": label_selector} if label_selector else {}
        if limit is not None:
            params["limit"] = str(limit)
        result = await self._request("list", "GET", kind.path(namespace), params=params or None)
        return list(result.get("items") or [])

    async def list_metadata(
        self,
        kind: Kind,
        namespace: str | None,
        *,
        limit: int,
        continue_token: str | None = None,
        label_selector: str | None = None,
        whole: bool = False,
    ) -> Body:
        """One page of ``kind``'s objects as a PartialObjectMetadataList: their metadata, never their data.

        ``continue_token``: the previous page's ``metadata.continue``; the last page has none.
        Its ``metadata.resourceVersion`` is the version to watch from. A server that cannot
        convert sends the objects whole (``kind`` then says so). ``whole``: ask for whole objects
        (a plain list); ``label_selector``: only the objects it selects.
        """
        params = {"limit": str(limit)}
        if continue_token:
            params["continue"] = continue_token
        if label_selector:
            params["labelSelector"] = label_selector
        result: Body = await self._request(
            "list", "GET", kind.path(namespace), params=params, accept=None if whole else METADATA_LIST_ACCEPT
        )
        return result

    async def watch_metadata(
        self,
        kind: Kind,
        namespace: str | None,
        *,
        resource_version: str,
        timeout_seconds: int,
        label_selector: str | None = None,
        whole: bool = False,
    ) -> AsyncIterator[Body]:
        """The watch events of ``kind`` after ``resource_version``, each object a PartialObjectMetadata
        (``whole``: the whole object), of the objects ``label_selector`` selects if given.

        Bookmarks included (``allowWatchBookmarks``). Ends when the server ends the stream (at
        ``timeout_seconds``, or when it restarts); an ERROR event raises the ``ApiError`` of its
        Status (410: the version expired, list again). A watch has no total timeout, as a quiet
        one is healthy: only a read waiting past the server's own timeout plus the request
        timeout gives up, on a connection that died without closing.
        """
        path = kind.path(namespace)
        params = {
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        if label_selector:
            params["labelSelector"] = label_selector
        limit = self._timeout.total
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=limit, sock_read=timeout_seconds + (limit if limit is not None else 0)
        )
        for attempt in (1, 2):
            async with self._using_session() as session:
                try:
                    async with session.get(
                        self._server + path,
                        params=params,
                        headers={"Accept": "application/json" if whole else METADATA_ACCEPT},
                        timeout=timeout,
                        allow_redirects=False,
                    ) as response:
                        if response.status == 401 and attempt == 1:
                            self._log_in_again(session)  # the token may have rotated: once
                            continue
                        if response.status >= 300:
                            raise await self._error("watch", path, response)
                        async for line in _lines(response.content):
                            yield self._watch_event(path, line)
                    return
                except (aiohttp.ClientError, TimeoutError) as error:
                    failure = self._unavailable("watch", path, error)
                raise failure  # outside the handler, so that only ``chainable`` decides what it carries

    async def create(self, body: Mapping[str, Any], *, field_manager: str, dry_run: bool = False) -> Body:
        """Create ``body``; 409 (``ApiConflictError``) when its name is taken.

        ``dry_run``: the API server judges the creation (a name taken included) and stores nothing.
        """
        kind = kind_of(body)
        namespace = body["metadata"].get("namespace")
        params = {"fieldManager": field_manager}
        if dry_run:
            params["dryRun"] = "All"
        result: Body = await self._request(
            "dry-run create" if dry_run else "create", "POST", kind.path(namespace), params=params, payload=body
        )
        return result

    async def apply(self, body: Mapping[str, Any], *, field_manager: str, dry_run: bool = False) -> Body:
        """Server-side apply: create or update the fields ``body`` sets, taking them over from other managers.

        ``dry_run``: the API server validates and admits the object as it would store it, and
        stores nothing; a 422 then says what it would refuse.
        """
        kind = kind_of(body)
        meta = body["metadata"]
        params = {"fieldManager": field_manager, "force": "true"}
        if dry_run:
            params["dryRun"] = "All"
        result: Body = await self._request(
            "dry-run apply" if dry_run else "apply",
            "PATCH",
            kind.path(meta.get("namespace"), meta["name"]),
            params=params,
            payload=body,
            content_type=APPLY_PATCH,
        )
        return result

    async def patch(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        patch: Mapping[str, Any],
        *,
        field_manager: str,
        subresource: str | None = None,
    ) -> Body:
        """A JSON merge patch; put ``metadata.resourceVersion`` in it to fail with 409 on a concurrent change."""
        result: Body = await self._request(
            "patch",
            "PATCH",
            kind.path(namespace, name, subresource),
            params={"fieldManager": field_manager},
            payload=patch,
            content_type=MERGE_PATCH,
        )
        return result

    async def delete(self, kind: Kind, namespace: str | None, name: str, *, uid: str | None = None) -> bool:
        """Delete the object (only if its uid is still ``uid``); False when it was already gone."""
        options: Body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        if uid is not None:
            options["preconditions"] = {"uid": uid}
        try:
            await self._request("delete", "DELETE", kind.path(namespace, name), payload=options)
        except ApiNotFoundError:
            return False
        return True

    async def _request(
        self,
        verb: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        payload: Any = None,
        content_type: str = "application/json",
        accept: str | None = None,
    ) -> Any:
        """One request; its JSON object answer, or an ``ApiError`` (``ApiUnavailableError`` when none came).

        After a dropped connection the session stays usable: aiohttp discards a closed
        connection from its pool, and the next request opens a new one.
        """
        data: str | bytes | None = None
        if payload is not None:
            data = apply_patch_body(payload) if content_type == APPLY_PATCH else json.dumps(payload)
        headers = {"Content-Type": content_type} if data is not None else {}
        if accept is not None:
            headers["Accept"] = accept
        async with self._under_way:
            return await self._send(verb, method, path, params=params, data=data, headers=headers)

    async def _send(
        self, verb: str, method: str, path: str, *, params: Mapping[str, str] | None, data: Any, headers: dict[str, str]
    ) -> Any:
        for attempt in (1, 2):
            async with self._using_session() as session:
                try:
                    async with session.request(
                        method,
                        self._server + path,
                        params=params,
                        data=data,
                        headers=headers or None,
                        allow_redirects=False,  # the API server never redirects: a 3xx is an error, not a new host
                    ) as response:
                        if response.status == 401 and attempt == 1:
                            self._log_in_again(session)  # the token may have rotated: once
                            continue
                        if response.status >= 300:
                            raise await self._error(verb, path, response)
                        body = await response.read()
                except (aiohttp.ClientError, TimeoutError) as error:
                    failure = self._unavailable(verb, path, error)
                else:
                    answer = decode_object(body)
                    if answer is None:
                        raise self._unavailable(verb, path, ValueError("not a JSON object"))
                    return answer
                raise failure  # outside the handler, so that only ``chainable`` decides what it carries
        raise AssertionError("unreachable: the second attempt returns or raises")

    async def _error(self, verb: str, path: str, response: aiohttp.ClientResponse) -> ApiError:
        payload = decode_object(await response.read()) or {}
        return self._status_error(
            verb,
            path,
            response.status,
            payload,
            reason=response.reason,
            retry_after=response.headers.get("Retry-After"),
        )

    def _status_error(
        self,
        verb: str,
        path: str,
        status: int,
        payload: Mapping[str, Any],
        *,
        reason: str | None,
        retry_after: str | None = None,
    ) -> ApiError:
        """The ``ApiError`` of an API server's Status ``payload`` (``status_error``), told to the error hook."""
        if self._on_error is not None:
            self._on_error(verb, status)
        return status_error(verb, path, status, payload, reason=reason, retry_after=retry_after)

    def _watch_event(self, path: str, line: bytes) -> Body:
        """One line of a watch stream, decoded; an ERROR event raises its Status as an ``ApiError``."""
        event = decode_object(line)
        if event is None or not isinstance(event.get("object"), dict):
            raise self._unavailable("watch", path, ValueError("not a watch event"))
        if event.get("type") == "ERROR":
            status = event["object"]
            code = status.get("code")
            status_code = code if isinstance(code, int) and code >= 400 else 500
            raise self._status_error("watch", path, status_code, status, reason="WatchError")
        return event

    def _unavailable(self, verb: str, path: str, error: BaseException) -> ApiUnavailableError:
        """The error of a request that got no usable answer, with ``error`` as its cause if ``chainable``."""
        reason, message = unavailable_cause(error)
        if self._on_error is not None:
            self._on_error(verb, UNAVAILABLE)
        failure = ApiUnavailableError(verb=verb, path=path, status=UNAVAILABLE, reason=reason, message=message)
        failure.__cause__ = chainable(error)  # as ``raise ... from``: the cause shown, no implicit context
        return failure

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            info = self._credentials()
            ssl: Any = info.as_ssl_context() if info.server.startswith("https") else None
            self._server = info.server.rstrip("/")
            self._session = aiohttp.ClientSession(
                headers=info.as_http_headers(),
                timeout=self._timeout,
                # No limit on connections: each metadata watch holds one for minutes (two per
                # namespace served), and a pool they filled would leave no request a connection.
                connector=aiohttp.TCPConnector(ssl=ssl if ssl is not None else True, limit=0),
                trust_env=info.trust_env,
            )
        return self._session


async def _lines(content: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    """The non-empty lines of a stream, however long: a watch sends one JSON event per line.

    Read by chunks rather than with ``readline``, which refuses a line over 128 KiB (an object
    with large annotations) with an error quoting the line's start.
    """
    buffer = bytearray()
    async for chunk in content.iter_any():
        buffer += chunk
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            if buffer[start:end].strip():
                yield bytes(buffer[start:end])
            start = end + 1
        del buffer[:start]
    if buffer.strip():
        yield bytes(buffer)
