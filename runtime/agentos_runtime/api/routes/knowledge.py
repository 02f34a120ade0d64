"""The ``/knowledge`` family: contents uploaded, listed, changed and deleted, searches, and the config.

Routes, shapes and status codes are Agno's (``agno/os/routers/knowledge``): an upload is
checked at once (size 413, type 415, URL host and missing input 400, bad fields 422), stored
``processing`` and answered 202; the base reads, chunks and embeds it in the background, and
``GET /knowledge/content/{id}/status`` says when it is ``completed`` or why it ``failed``.
Every route picks its base with ``db_id``/``knowledge_id`` (``knowledge_schemas.select_base``);
without any base declared they answer 503, as AgentOS does without a ``Knowledge``.

Under user isolation, as in Agno, a caller that is not admin uploads contents of its own (the
token's user): it sees, searches, changes and deletes its own and sees and searches shared ones
(uploaded without isolation, by an admin, or configured as sources), which it may not change
(403); another user's are not found (404). ``DELETE /knowledge/content`` deletes only its own.
``POST /knowledge/content/{id}/refresh`` reads a URL's content (or a configured source file)
again; an upload's bytes are not kept, so it cannot be refreshed (400).
Remote content sources (S3, GitHub...) are not served: none can be configured, so the routes
that use them answer as AgentOS does when none is.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.exceptions import HTTPException

from agentos_runtime.api.authz import Caller, CallerDep
from agentos_runtime.api.deps import ContextDep
from agentos_runtime.api.forms import FormRoute
from agentos_runtime.api.responses import ErrorDetail, Responses
from agentos_runtime.api.routes import knowledge_schemas as views
from agentos_runtime.api.routes.knowledge_schemas import (
    ContentPage,
    ContentSource,
    ContentStatusView,
    ContentView,
    DeletedContent,
    KnowledgeConfig,
    SearchPage,
    SearchRequest,
    SourceFiles,
    Success,
)
from agentos_runtime.api.routes.run_forms import MAX_FIELD_BYTES
from agentos_runtime.api.routes.session_schemas import page_envelope
from agentos_runtime.errors import (
    AgentOSError,
    BadRequest,
    ContextWindowExceededError,
    ModelProviderError,
    ModelRateLimitError,
    NotFound,
)
from agentos_runtime.knowledge.base import KnowledgeBase, Upload
from agentos_runtime.knowledge.ports import SortField
from agentos_runtime.knowledge.records import Content

JSON = dict[str, Any]

router = APIRouter(route_class=FormRoute, tags=["Knowledge"])

DbIdParam = Annotated[str | None, Query(description="Database of the knowledge base; needed when several bases exist.")]
KnowledgeIdParam = Annotated[str | None, Query(description="Knowledge base id (as /config lists it).")]


def _errors(*codes: int) -> Responses:
    texts = {
        400: "The request cannot be acted on, or names no single knowledge base: the detail says which",
        403: "The caller may not change shared content",
        409: "The content is being processed",
        404: "No such knowledge base or content",
        413: "The content is over the knowledge base's max_content_bytes",
        415: "The content's type cannot be read",
        429: "The embeddings endpoint is rate limiting",
        502: "The embeddings endpoint failed",
        503: "No knowledge base is declared, or its database is unavailable",
    }
    return {code: {"model": ErrorDetail, "description": texts[code]} for code in codes}


def _answers(model: Any, description: str, *codes: int, status: int = 200) -> Responses:
    return {status: {"model": model, "description": description}, **_errors(400, 404, 503, *codes)}


async def get_base(
    context: ContextDep, db_id: DbIdParam = None, knowledge_id: KnowledgeIdParam = None
) -> KnowledgeBase:
    return views.select_base(context.knowledge or {}, db_id, knowledge_id)


BaseDep = Annotated[KnowledgeBase, Depends(get_base)]


def _changeable(content: Content, caller: Caller, action: str) -> None:
    """403 when a caller under user isolation would change shared content (not its own)."""
    if caller.isolated and content.user_id is None:
        raise HTTPException(status_code=403, detail=f"Cannot {action} shared content")


def _not_found(content_id: str) -> NotFound:
    return NotFound(f"Content not found: {content_id}")


async def _existing(base: KnowledgeBase, content_id: str, caller: Caller) -> Content:
    """The content the caller sees (its own or a shared one), or 404."""
    try:
        return await base.get(content_id, user_id=caller.scoped_user_id(None))
    except NotFound:
        raise _not_found(content_id) from None


# Forms are parsed with fields as large as the body (as run forms are): text and metadata are
# bounded by the base's max_content_bytes (413 naming the field), not by the parser's 1 MiB (400).
@router.post(
    "/knowledge/content",
    status_code=202,
    responses=_answers(ContentView, "Accepted: processing", 403, 413, 415, status=202),
    form_limits={"max_part_size": MAX_FIELD_BYTES},
)
async def upload_content(
    base: BaseDep,
    caller: CallerDep,
    name: Annotated[
        str | None, Form(max_length=views.MAX_NAME_LENGTH, description="Content name; defaults to the file name or URL")
    ] = None,
    description: Annotated[
        str | None, Form(max_length=views.MAX_DESCRIPTION_LENGTH, description="What the content is")
    ] = None,
    url: Annotated[
        str | None, Form(description="One URL to fetch (its host must be allowed), plain or JSON-encoded")
    ] = None,
    metadata: Annotated[str | None, Form(description="JSON object stored with the content and each chunk")] = None,
    file: Annotated[UploadFile | None, File(description="The document: .txt, .md, .html, .pdf, .json or .csv")] = None,
    text_content: Annotated[str | None, Form(description="Text to index")] = None,
    reader_id: Annotated[
        str | None, Form(description="Reader (from /knowledge/config) a file without an extension is read with")
    ] = None,
    chunker: Annotated[str | None, Form(description="FixedSizeChunker, RecursiveChunker or MarkdownChunker")] = None,
    chunk_size: Annotated[int | None, Form(description="Most characters per chunk")] = None,
    chunk_overlap: Annotated[int | None, Form(description="Characters each chunk repeats from the one before")] = None,
) -> JSON:
    """Upload a file, text or URL; it is read, chunked and embedded in the background."""
    views.check_form_text(
        {
            "name": name,
            "description": description,
            "url": url,
            "text_content": text_content,
            "reader_id": reader_id,
            "chunker": chunker,
        }
    )
    views.check_file_name(file.filename if file is not None else None)
    views.check_metadata_size(metadata)
    parsed_metadata = views.parse_metadata(metadata)
    parsed_url = views.parse_url(url)
    content_type = views.reader_content_type(reader_id)
    chunking = views.chunking_for(base.config.chunking, chunker, chunk_size, chunk_overlap)
    text = text_content or None
    given = [
        field for field, value in (("file", file), ("text_content", text), ("url", parsed_url)) if value is not None
    ]
    if not given:
        raise BadRequest("Provide a file, text_content, or URL to upload.")
    if len(given) > 1:
        raise BadRequest(
            f"Provide only one of file, text_content or url (got {' and '.join(given)}): upload each separately."
        )
    data = await file.read() if file is not None else None
    upload = Upload(
        name=name or None,
        description=description or None,
        metadata=parsed_metadata,
        data=data,
        text=text,
        url=parsed_url,
        filename=file.filename if file is not None else None,
        content_type=content_type or (file.content_type if file is not None else None),
        chunking=chunking,
        user_id=caller.scoped_user_id(None),
    )
    return views.content_view(await base.add(upload))


@router.get("/knowledge/content", responses=_answers(ContentPage, "One page of contents"))
async def list_content(
    base: BaseDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=views.MAX_PAGE_SIZE, description="Contents per page")] = 20,
    page: Annotated[int, Query(ge=1, le=views.MAX_PAGE, description="Page number, from 1")] = 1,
    sort_by: Annotated[SortField, Query(description="Field to sort by")] = "created_at",
    sort_order: Annotated[Literal["asc", "desc"], Query(description="Sort order")] = "desc",
) -> JSON:
    """The base's contents, one page at a time."""
    started = time.perf_counter()
    contents, total = await base.list(
        page=page, limit=limit, sort_by=sort_by, sort_order=sort_order, user_id=caller.scoped_user_id(None)
    )
    elapsed_ms = (time.perf_counter() - started) * 1000
    shown = [views.content_view(content) for content in contents]
    return page_envelope(shown, page=page, limit=limit, total=total, elapsed_ms=elapsed_ms)


@router.get("/knowledge/content/{content_id}", responses=_answers(ContentView, "The content"))
async def get_content(content_id: str, base: BaseDep, caller: CallerDep) -> JSON:
    """One content, with its processing status."""
    return views.content_view(await _existing(base, content_id, caller))


@router.patch(
    "/knowledge/content/{content_id}",
    responses=_answers(ContentView, "The changed content", 403, 413),
    form_limits={"max_part_size": MAX_FIELD_BYTES},
)
async def update_content(
    content_id: str,
    base: BaseDep,
    caller: CallerDep,
    name: Annotated[str | None, Form(max_length=views.MAX_NAME_LENGTH, description="New name")] = None,
    description: Annotated[
        str | None, Form(max_length=views.MAX_DESCRIPTION_LENGTH, description="New description")
    ] = None,
    metadata: Annotated[
        str | None, Form(description="Metadata keys to set, a JSON object (merged: other keys are kept)")
    ] = None,
    reader_id: Annotated[str | None, Form(description="Accepted as in Agno; the content is not read again")] = None,
) -> JSON:
    """Change a content's name, description or metadata: the keys sent replace those of the
    same name, the others are kept (as in Agno), in its chunks too, so searches filter on them."""
    views.check_form_text({"name": name, "description": description, "reader_id": reader_id})
    views.check_metadata_size(metadata)
    parsed_metadata = views.parse_metadata(metadata) if metadata and metadata.strip() else None
    views.reader_content_type(reader_id)
    _changeable(await _existing(base, content_id, caller), caller, "modify")
    try:
        content = await base.update(
            content_id,
            name=name.strip() if name and name.strip() else None,
            description=description.strip() if description and description.strip() else None,
            metadata=parsed_metadata,
        )
    except NotFound:
        raise _not_found(content_id) from None
    return views.content_view(content)


@router.delete(
    "/knowledge/content/{content_id}", responses=_answers(DeletedContent, "The id of the deleted content", 403)
)
async def delete_content(content_id: str, base: BaseDep, caller: CallerDep) -> JSON:
    """Delete a content and its chunks."""
    _changeable(await _existing(base, content_id, caller), caller, "delete")
    try:
        await base.delete(content_id)
    except NotFound:
        raise _not_found(content_id) from None
    return {"id": content_id}


@router.delete("/knowledge/content", responses=_answers(Success, '"success"'))
async def delete_all_content(base: BaseDep, caller: CallerDep) -> str:
    """Delete every content of the base and its chunks (under user isolation, the caller's own only)."""
    await base.delete_all(user_id=caller.scoped_user_id(None))
    return "success"


@router.post(
    "/knowledge/content/{content_id}/refresh",
    status_code=202,
    responses=_answers(ContentView, "Accepted: processing again", 403, 409, status=202),
)
async def refresh_content(content_id: str, base: BaseDep, caller: CallerDep) -> JSON:
    """Read a URL's (or a configured source file's) content again; its chunks are replaced
    once the new ones are embedded."""
    _changeable(await _existing(base, content_id, caller), caller, "refresh")
    try:
        content = await base.refresh(content_id)
    except NotFound:
        raise _not_found(content_id) from None
    return views.content_view(content)


@router.get("/knowledge/content/{content_id}/status", responses=_answers(ContentStatusView, "Where processing stands"))
async def get_content_status(content_id: str, base: BaseDep, caller: CallerDep) -> JSON:
    """``processing``, ``completed``, or ``failed`` with the reason."""
    try:
        content = await base.status(content_id, user_id=caller.scoped_user_id(None))
    except NotFound:
        raise _not_found(content_id) from None
    return views.status_view(content)


@router.post(
    "/knowledge/search", responses=_answers(SearchPage, "The chunks nearest the query, nearest first", 429, 502)
)
async def search_knowledge(request: SearchRequest, context: ContextDep, caller: CallerDep) -> JSON:
    """Search a knowledge base by meaning; results are paged by ``meta``."""
    started = time.perf_counter()
    views.check_integers(("body", "filters"), request.filters)
    views.check_filter_terms(("body", "filters"), request.filters)
    base = views.select_base(context.knowledge or {}, request.db_id, request.knowledge_id)
    table = base.config.table_name
    if request.vector_db_ids and table not in request.vector_db_ids:
        raise BadRequest(
            f"None of the provided Vector DB IDs {request.vector_db_ids} match the knowledge base Vector DB ID {table}"
        )
    if request.search_type and request.search_type != views.SEARCH_TYPE:
        raise BadRequest(f"search_type '{request.search_type}' is not supported: knowledge bases here search by vector")
    try:
        hits = await base.search(
            request.query,
            max_results=request.max_results,
            filters=request.filters,
            user_id=caller.scoped_user_id(None),
        )
    except (ModelRateLimitError, ContextWindowExceededError):
        raise  # 429: retry later; 400: the query is too long for the embedding model
    except ModelProviderError as error:
        # The embedder's own status (401 for its key, 404 for its model) would read as the caller's.
        raise AgentOSError(f"Embedding the query failed: {error.detail}", status_code=502) from None
    return views.result_page(hits, request.meta, (time.perf_counter() - started) * 1000)


@router.get("/knowledge/config", responses=_answers(KnowledgeConfig, "Readers, chunkers, filters and vector stores"))
async def get_knowledge_config(base: BaseDep, context: ContextDep, caller: CallerDep) -> JSON:
    """What the base reads, how it chunks, the metadata keys to filter on (of the contents the
    caller sees), and where vectors live."""
    contents, _ = await base.list(
        page=1,
        limit=views.FILTER_SCAN_LIMIT,
        sort_by="updated_at",
        sort_order="desc",
        user_id=caller.scoped_user_id(None),
    )
    database = context.databases[base.db_id]
    return views.config_view(
        base_id=base.id,
        description=base.description,
        table=base.config.table_name,
        database_type=database.config.type,
        chunking=base.config.chunking,
        url_allowed=bool(base.config.allowed_hosts),
        filters=views.metadata_keys(contents),
    )


@router.post(
    "/knowledge/remote-content",
    status_code=202,
    dependencies=[Depends(get_base)],
    form_limits={"max_part_size": MAX_FIELD_BYTES},
    responses=_answers(ContentView, "Accepted", status=202),
)
async def upload_remote_content(
    config_id: Annotated[str, Form(description="Remote content source (from /knowledge/config)")],
    path: Annotated[str, Form(description="Path in the source")],
) -> JSON:
    """Content from a remote source: none can be configured here, so every source is unknown."""
    views.check_form_text({"config_id": config_id, "path": path})
    raise BadRequest(f"Unknown content source: {config_id}. Check /knowledge/config for available sources.")


@router.get("/knowledge/{knowledge_id}/sources", responses=_answers(list[ContentSource], "The base's remote sources"))
async def list_content_sources(knowledge_id: str, context: ContextDep, db_id: DbIdParam = None) -> list[JSON]:
    """Remote content sources of a base: none can be configured here."""
    views.select_base(context.knowledge or {}, db_id, knowledge_id)
    return []


@router.get("/knowledge/{knowledge_id}/sources/{source_id}/files", responses=_answers(SourceFiles, "Files in a source"))
async def list_source_files(knowledge_id: str, source_id: str, context: ContextDep, db_id: DbIdParam = None) -> JSON:
    """Files of a remote content source: there is none."""
    views.select_base(context.knowledge or {}, db_id, knowledge_id)
    raise NotFound(f"Content source not found: {source_id}")
