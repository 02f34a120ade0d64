"""Where contents come from besides an upload: URLs on an allow-list, and files at start.

``fetch_url`` downloads a URL whose host the base allows (every redirect hop is checked
again, as ``http_get`` does, and so is the address connected to: see ``guarded_http``), within
a timeout and at most ``max_bytes``: a longer answer is refused, not cut, since half a document
would be searchable as if it were whole.

``source_files`` lists the files of a configured source path. A directory is read
recursively, the way Kubernetes mounts a ConfigMap: its top-level entries are symlinks into
a hidden ``..data`` directory swapped atomically on update, so symlinks are followed, entries
whose name starts with ``..`` are skipped (they are the same files again), and a symlink that
leads outside the directory is ignored.

``load_sources`` loads a base's configured sources at start, in the background. Each document
is one content with a stable id (the same on every replica); its metadata keeps where it came
from and the SHA-256 of its bytes, so the next start leaves an unchanged document as it is and
processes a changed one again (its old chunks stay searchable until the new ones replace them
in one transaction, or are removed if it fails). A document whose source was removed from the
config is left in the base: delete it through the API.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import stat
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit, urlunsplit

from agentos_runtime.config.hosts import RefusedURL, check_url
from agentos_runtime.config.knowledge import KnowledgeSource
from agentos_runtime.errors import AgentOSError, BadRequest, Conflict
from agentos_runtime.knowledge.reading import (
    ContentTooLarge,
    UnreadableContent,
    UnsupportedContent,
    detect_type,
    format_size,
)
from agentos_runtime.knowledge.records import Content, clipped_name
from agentos_runtime.storable import one_line
from agentos_runtime.tools.http_get import MAX_REDIRECTS

if TYPE_CHECKING:
    import httpx2

    from agentos_runtime.guarded_http import Resolver
    from agentos_runtime.knowledge.base import KnowledgeBase

logger = logging.getLogger("agentos_runtime.knowledge")

# Seconds for a whole download (connect, redirects, body): a page or document, not a stream.
FETCH_TIMEOUT_SECONDS = 60.0
# A directory source is walked at most this deep, against symlink loops inside the tree.
MAX_DEPTH = 32


class FetchFailed(AgentOSError):
    """The URL could not be downloaded (refused, unreachable, an error status, too large)."""

    status_code = 400


@dataclass(frozen=True)
class Fetched:
    """A downloaded document: its bytes, the content type the server declared, and a file name
    taken from the URL's path (for telling PDF from HTML when the server does not say)."""

    data: bytes
    content_type: str | None
    filename: str | None


def check_content_url(url: str, allowed_hosts: list[str], *, field: str = "url") -> None:
    """Raise ``BadRequest`` naming ``field`` unless ``url`` is http(s) on an allowed host."""
    if not allowed_hosts:
        raise BadRequest(
            f"{field}: this knowledge base fetches no URLs (its allowed_hosts is empty); "
            "list the host in the knowledge base's allowed_hosts, or upload the file"
        )
    try:
        check_url(url, allowed_hosts)
    except RefusedURL as error:
        raise BadRequest(f"{field}: {error}") from None


async def fetch_url(
    url: str,
    *,
    allowed_hosts: list[str],
    max_bytes: int,
    timeout: float = FETCH_TIMEOUT_SECONDS,
    resolver: Resolver | None = None,
) -> Fetched:
    """Download ``url``; raises ``FetchFailed`` (a ``BadRequest``-like 400, or 413 when larger
    than ``max_bytes``) with a message naming the URL, never a credential in it. ``resolver``
    resolves host names when connecting (the system's by default)."""
    import httpx2

    from agentos_runtime.guarded_http import guarded_client

    shown = public_url(url)
    try:
        async with (
            asyncio.timeout(timeout),
            guarded_client(allowed_hosts, timeout=timeout, resolver=resolver) as client,
        ):
            for _ in range(MAX_REDIRECTS + 1):
                check_content_url(url, allowed_hosts)
                async with client.stream("GET", url) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code >= 400:
                        status = response.status_code
                        raise FetchFailed(
                            f"fetching {shown} failed: HTTP {status}", transient=status >= 500 or status in (408, 429)
                        )
                    data = await _read_limited(response, max_bytes, shown)
                    content_type = response.headers.get("content-type")
                    return Fetched(data, content_type, PurePosixPath(urlsplit(url).path).name or None)
    except BadRequest as error:
        raise FetchFailed(error.detail) from None
    except RefusedURL as error:  # the address connected to (guarded_http.RefusedAddress)
        raise FetchFailed(f"fetching {shown} failed: {error}") from None
    except (TimeoutError, httpx2.TimeoutException):
        raise FetchFailed(f"fetching {shown} failed: no complete answer within {timeout:g} s", transient=True) from None
    except httpx2.TransportError as error:
        raise FetchFailed(f"fetching {shown} failed: no connection ({type(error).__name__})", transient=True) from None
    except httpx2.HTTPError as error:
        raise FetchFailed(f"fetching {shown} failed: {type(error).__name__}") from None
    except httpx2.InvalidURL:  # not an HTTPError: one the allow-list check let through (a length, say)
        raise FetchFailed(f"fetching {shown} failed: the HTTP client refuses the URL as invalid") from None
    raise FetchFailed(f"fetching {shown} failed: more than {MAX_REDIRECTS} redirects")


async def _read_limited(response: httpx2.Response, max_bytes: int, shown: str) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise FetchFailed(f"fetching {shown} failed: {declared} bytes is more than {max_bytes}", status_code=413)
    body = bytearray()
    async for piece in response.aiter_bytes():
        body += piece
        if len(body) > max_bytes:
            raise FetchFailed(f"fetching {shown} failed: larger than {max_bytes} bytes", status_code=413)
    return bytes(body)


def public_url(url: str) -> str:
    """``url`` without a user, password, query or fragment: what may be shown of it."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def source_files(root: Path, *, supported: Callable[[Path], bool]) -> list[Path]:
    """The files of a source: ``root`` itself when it is a file, else every file under it that
    is ``supported``, sorted; see the module docstring for the ConfigMap layout. Paths are spelled under ``root`` (``root/a/b.md``), never resolved,
    so a ConfigMap update (a new ``..data`` target) keeps the same names."""
    if not root.is_dir():
        return [root]
    boundary = root.resolve()
    found: list[Path] = []
    too_deep: list[Path] = []
    _walk(root, boundary, supported, found, seen={_identity(boundary)}, depth=0, too_deep=too_deep)
    if too_deep:
        logger.warning(
            "knowledge source %s: %d directories lie more than %d levels below it and are not read, the first %s",
            one_line(root),
            len(too_deep),
            MAX_DEPTH,
            one_line(min(too_deep)),
        )
    return sorted(found)


def _identity(path: Path) -> tuple[int, int]:
    """What a directory or file is, whatever it is called: its device and inode."""
    status = path.stat()
    return status.st_dev, status.st_ino


def _walk(
    directory: Path,
    boundary: Path,
    supported: Callable[[Path], bool],
    found: list[Path],
    *,
    seen: set[tuple[int, int]],
    depth: int,
    too_deep: list[Path],
) -> None:
    """Every supported file under ``directory``, each real directory and file once: a symlink
    back to a directory already walked (a loop, ``ln -s . again``) or to a file already found
    adds nothing (it made the walk double at every level, and loaded a document many times).
    A directory more than ``MAX_DEPTH`` levels down is not walked but listed in ``too_deep``."""
    if depth > MAX_DEPTH:
        too_deep.append(directory)
        return
    for entry in os.scandir(directory):
        if entry.name.startswith("."):
            # Kubernetes' ``..data`` and ``..<timestamp>`` (the same files again), and hidden
            # files and directories: ``.env``, ``.git`` in a mounted checkout are no documents,
            # and what a base holds is searched and quoted to its users.
            continue
        path = directory / entry.name
        try:
            target = path.resolve(strict=True)
            identity = _identity(target)
        except (OSError, RuntimeError):  # a dangling symlink or a loop
            continue
        if not target.is_relative_to(boundary) or identity in seen:
            continue
        if target.is_dir():
            seen.add(identity)
            _walk(path, boundary, supported, found, seen=seen, depth=depth + 1, too_deep=too_deep)
        elif target.is_file() and supported(path):
            seen.add(identity)
            found.append(path)


def within_sources(path: Path, sources: list[KnowledgeSource]) -> bool:
    """Whether ``path`` is a configured source file, or a file under a configured source
    directory (its real location too: a symlink may not lead out). A content's recorded origin
    is only read again when it is."""
    for source in sources:
        if source.path is None:
            continue
        root = Path(os.path.normpath(Path(source.path).absolute()))
        candidate = Path(os.path.normpath(path.absolute()))
        if candidate == root or candidate.is_relative_to(root):
            try:
                return path.resolve().is_relative_to(root.resolve())
            except (OSError, RuntimeError):
                return False
    return False


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# Metadata of a content loaded from a configured source: where it came from, and the SHA-256
# of the bytes it was processed from (an unchanged source is not embedded again).
SOURCE_KEY = "agentos_source"
SHA256_KEY = "agentos_sha256"
# Contents read per page when looking for those of the configured sources.
_PAGE = 500


@dataclass(frozen=True)
class SourceItem:
    """One document of a configured source: a file (of a file or directory source) or a URL."""

    identity: str
    """``file://`` URI of the file as named under the source path, or the URL's ``url_identity``."""
    name: str
    source: KnowledgeSource
    path: Path | None = None
    url: str | None = None


def source_items(source: KnowledgeSource, *, supported: Callable[[Path], bool]) -> list[SourceItem]:
    """The documents of ``source`` (walks a directory: run it in a thread)."""
    if source.url is not None:
        name = source.name or clipped_name(public_url(source.url))
        return [SourceItem(url_identity(source.url), name, source, url=source.url)]
    root = Path(source.path or "")
    items = []
    for path in source_files(root, supported=supported):
        name = clipped_name(path.name if path == root else path.relative_to(root).as_posix())
        if source.name and path == root:
            name = source.name
        items.append(SourceItem(path.absolute().as_uri(), name, source, path=path))
    return items


def url_identity(url: str) -> str:
    """How a URL source is named in its content's metadata (which the API shows): the URL, or,
    when it carries a user, password or query, the URL without them and a digest of the whole."""
    shown = public_url(url)
    return shown if shown == url else f"{shown}#sha256={sha256_of(url.encode())[:16]}"


def supported_file(path: Path) -> bool:
    """Whether a file of a directory source is one the readers take (by its extension)."""
    try:
        detect_type(b"", filename=path.name, content_type=None)
    except UnsupportedContent:
        return False
    return True


def content_id_for(base_id: str, identity: str) -> str:
    """A source document's content id: the same on every replica and every start."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{base_id} {identity}"))


async def load_sources(base: KnowledgeBase, *, lease_seconds: float) -> None:
    """Load the configured sources of ``base``: new and changed documents are (re)processed,
    unchanged ones left as they are; a source that cannot be read becomes a failed content and
    a WARNING, never an error of the runtime."""
    existing = await _sourced_contents(base)
    for source in base.config.sources:
        try:
            items = await asyncio.to_thread(source_items, source, supported=supported_file)
        except OSError as error:
            root = Path(source.path or "")
            item = SourceItem(root.absolute().as_uri(), source.name or clipped_name(root.name), source, path=root)
            message = f"reading {root} failed: {error.strerror}"
            await _record_failure(base, item, existing.get(item.identity), message, error)
            continue
        for item in items:
            await _load_item(base, item, existing.get(item.identity), lease_seconds=lease_seconds)


async def _sourced_contents(base: KnowledgeBase) -> dict[str, Content]:
    found: dict[str, Content] = {}
    page = 1
    while True:
        contents, total = await base.store.list_contents(page=page, limit=_PAGE)
        for content in contents:
            identity = content.metadata.get(SOURCE_KEY)
            # The id settles it: metadata alone could be any upload's.
            if isinstance(identity, str) and content.id == content_id_for(base.id, identity):
                found[identity] = content
        if not contents or page * _PAGE >= total:
            return found
        page += 1


async def _load_item(base: KnowledgeBase, item: SourceItem, old: Content | None, *, lease_seconds: float) -> None:
    from agentos_runtime.knowledge.ingestion import Payload

    limit = base.config.max_content_bytes
    try:
        if item.path is not None:
            data = await asyncio.to_thread(read_file_capped, item.path, limit)
            content_type = None
        else:
            fetched = await fetch_url(item.url or "", allowed_hosts=base.config.allowed_hosts, max_bytes=limit)
            data, content_type = fetched.data, fetched.content_type
        kind = detect_type(data, filename=item.path.name if item.path else None, content_type=content_type)
    except (AgentOSError, OSError) as error:
        message = error.detail if isinstance(error, AgentOSError) else f"reading failed: {error.strerror}"
        await _record_failure(base, item, old, message, error)
        return
    sha = sha256_of(data)
    if old is not None and _leave_as_is(base, old, sha, lease_seconds=lease_seconds):
        return
    content = _content(base, item, kind="url" if item.url else kind, size=len(data), sha=sha, old=old)
    if not await _store(base, content, old):
        return
    if item.path is not None:
        base.process(content, Payload(path=item.path))
    else:
        base.process(content, Payload(data=data, filename=None, content_type=content_type))


def _leave_as_is(base: KnowledgeBase, old: Content, sha: str, *, lease_seconds: float) -> bool:
    """Whether the stored content of a source needs no processing: unchanged and completed,
    or being processed (here, or by a replica whose heartbeat is fresh)."""
    if old.status == "completed" and old.metadata.get(SHA256_KEY) == sha:
        return True
    if old.status != "processing":
        return False
    return old.id in base.pending or old.updated_at >= base.clock() - lease_seconds


def _content(
    base: KnowledgeBase, item: SourceItem, *, kind: str, size: int | None, sha: str, old: Content | None
) -> Content:
    now = int(base.clock())
    metadata = {**(item.source.metadata or {}), SOURCE_KEY: item.identity, SHA256_KEY: sha}
    return Content(
        id=old.id if old is not None else content_id_for(base.id, item.identity),
        name=item.name,
        linked_to=base.id,
        description=item.source.description,
        type=kind,
        size=size,
        metadata=metadata,
        status="processing",
        created_at=old.created_at if old is not None else now,
        updated_at=now,
        external_id=item.url or item.identity,
    )


async def _store(base: KnowledgeBase, content: Content, old: Content | None) -> bool:
    """Write the ``processing`` row; ``False`` when another replica added it first."""
    if old is not None and await base.store.update_content(content):
        return True
    try:
        await base.store.add_content(content)
    except Conflict:
        return False
    return True


async def _record_failure(
    base: KnowledgeBase, item: SourceItem, old: Content | None, message: str, error: Exception
) -> None:
    """Store the source's content ``failed`` with ``message``; a transient ``error`` (its server
    not answering yet) is retried (``KnowledgeBase.retry_later``)."""
    logger.warning("knowledge base %s: source %s failed: %s", base.id, _shown(item), one_line(message))
    content = _content(base, item, kind="url" if item.url else "file", size=None, sha="", old=old)
    content.metadata.pop(SHA256_KEY)
    if not await _store(base, content, old):
        return
    message += base.retry_later(content, error)
    await base.store.fail_content(content.id, message, updated_at=int(base.clock()))
    await base.refresh_counts()


def _shown(item: SourceItem) -> str:
    """The source in a log line: its URL, or its path as configured and, when that is relative,
    the directory it was resolved against (the runtime's working directory)."""
    if item.path is None:
        return public_url(item.url or "")
    if item.path.is_absolute():
        return one_line(item.path)
    return f"{one_line(item.path)} (relative to {one_line(Path.cwd())})"


def read_file_capped(path: Path, max_bytes: int) -> bytes:
    """The bytes of the file at ``path``; ``ContentTooLarge`` when over ``max_bytes`` (read no
    further), ``UnreadableContent`` when it is no regular file: a pipe would block the read
    (and the server's shutdown) until someone wrote to it, a device would never end."""
    # Non-blocking, so opening a pipe nobody writes to returns at once; a file ignores the flag.
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as file:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise UnreadableContent(
                f"'{path.name}' is not a regular file (a pipe, a socket or a device): only files are read"
            )
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ContentTooLarge(
            f"file '{path.name}' is over the knowledge base's limit of {format_size(max_bytes)} (max_content_bytes)"
        )
    return data
