"""Sources loaded at start: files and directories (as Kubernetes mounts a ConfigMap) and URLs.

Start-up does not wait for them; unchanged documents are not embedded again by the next start,
changed ones replace their content, and a source that cannot be read is a failed content and a
WARNING, never a failed start.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agentos_runtime import guarded_http
from agentos_runtime.config.knowledge import KnowledgeBaseConfig
from agentos_runtime.errors import BadRequest
from agentos_runtime.knowledge import sources
from agentos_runtime.knowledge.ingestion import resumable_payload
from agentos_runtime.knowledge.reading import UnreadableContent
from agentos_runtime.knowledge.records import Content
from agentos_runtime.knowledge.sources import (
    SHA256_KEY,
    SOURCE_KEY,
    FetchFailed,
    check_content_url,
    fetch_url,
    read_file_capped,
    source_files,
    supported_file,
)
from agentos_runtime.storable import one_line
from pydantic import ValidationError

from tests.runtime.knowledge.hubs import FakeEmbedder, KnowledgeSpace
from tests.support.fake_dns import fake_dns
from tests.support.fake_openai import serve_asgi

GUIDE = "# Setup guide\n\nInstall the agent with the platform installer."
FAQ = "Badges are issued at the reception desk on the first day."
NESTED = "Nested notes: the VPN profile is in the self-service portal."


def config_map(root: Path, files: dict[str, str], *, version: str = "..2026_01_01_00_00_00.1") -> Path:
    """A directory laid out as the kubelet mounts a ConfigMap: the files in a hidden versioned
    directory, ``..data`` pointing at it, and one top-level symlink per key."""
    root.mkdir(parents=True, exist_ok=True)
    (root / version).mkdir()
    for name, text in files.items():
        (root / version / name).write_text(text)
    data = root / "..data"
    staged = root / "..data_tmp"
    staged.symlink_to(version)
    os.replace(staged, data)  # the kubelet swaps ..data atomically on an update
    for name in files:
        link = root / name
        if not link.is_symlink():
            link.symlink_to(Path("..data") / name)
    return root


def test_a_config_map_directory_lists_each_supported_file_once_and_nothing_outside_it(tmp_path: Path) -> None:
    outside = tmp_path / "outside.md"
    outside.write_text("secret")
    root = config_map(tmp_path / "docs", {"guide.md": GUIDE, "faq.txt": FAQ, "logo.png": "\x89PNG"})
    (root / "escape.md").symlink_to(outside)
    (root / "sub").mkdir()
    (root / "sub" / "nested.md").write_text(NESTED)

    files = source_files(root, supported=supported_file)

    assert [f.relative_to(root).as_posix() for f in files] == ["faq.txt", "guide.md", "sub/nested.md"]


async def test_sources_are_loaded_in_the_background_and_an_unchanged_one_is_not_embedded_again(
    space: KnowledgeSpace, tmp_path: Path
) -> None:
    root = config_map(tmp_path / "docs", {"guide.md": GUIDE, "faq.txt": FAQ})
    base = space.base(sources=[{"path": str(root), "metadata": {"origin": "configmap"}}])
    embedder = FakeEmbedder()
    embedder.gate = asyncio.Event()

    first = await space.open(base, embedder=embedder)  # returns while the sources are processing
    await embedder.entered.wait()
    embedder.gate.set()
    await first.wait_idle()
    contents, total = await first["docs"].list(sort_by="name", sort_order="asc")

    assert total == 2
    assert [(c.name, c.status, c.type) for c in contents] == [
        ("faq.txt", "completed", "txt"),
        ("guide.md", "completed", "md"),
    ]
    assert contents[0].metadata["origin"] == "configmap"
    assert contents[0].metadata[SOURCE_KEY] == (root / "faq.txt").absolute().as_uri()
    await first.close()
    second = await space.open(base)
    await second.wait_idle()
    assert space.embedder.calls == []
    assert [c.id for c in (await second["docs"].list(sort_by="name", sort_order="asc"))[0]] == [c.id for c in contents]


async def test_a_changed_source_file_replaces_its_content(space: KnowledgeSpace, tmp_path: Path) -> None:
    root = config_map(tmp_path / "docs", {"guide.md": GUIDE, "faq.txt": FAQ})
    base = space.base(sources=[{"path": str(root)}])
    first = await space.open(base)
    await first.wait_idle()
    (guide,) = [c for c in (await first["docs"].list())[0] if c.name == "guide.md"]
    await first.close()
    changed = "# Setup guide\n\nInstall the agent from the internal package mirror."
    config_map(root, {"guide.md": changed, "faq.txt": FAQ}, version="..2026_02_01_00_00_00.1")

    second = await space.open(base)
    await second.wait_idle()

    assert space.embedder.texts == [changed]
    updated = await second["docs"].get(guide.id)
    assert updated.status == "completed"
    assert updated.metadata[SHA256_KEY] != guide.metadata[SHA256_KEY]
    hits = await second["docs"].search("install the agent package mirror")
    assert [hit.content for hit in hits if hit.content_id == guide.id] == [changed]
    assert await second["docs"].store.counts() == (2, 2)


async def test_a_source_that_cannot_be_read_is_a_failed_content_and_a_warning(
    sqlite_space: KnowledgeSpace, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    slides = tmp_path / "slides.pptx"
    slides.write_bytes(b"PK\x03\x04")
    missing = tmp_path / "missing.md"
    base = sqlite_space.base(
        sources=[
            {"path": str(missing)},
            {"path": str(slides)},
            {"path": str(config_map(tmp_path / "ok", {"faq.txt": FAQ}))},
        ]
    )

    with caplog.at_level(logging.WARNING, logger="agentos_runtime.knowledge"):
        hub = await sqlite_space.open(base)
        await hub.wait_idle()

    contents = {c.name: c for c in (await hub["docs"].list())[0]}
    assert contents["faq.txt"].status == "completed"
    assert contents["missing.md"].status == "failed"
    assert "No such file or directory" in (contents["missing.md"].status_message or "")
    assert contents["slides.pptx"].status == "failed"
    assert ".pptx is not supported" in (contents["slides.pptx"].status_message or "")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(missing) in message for message in warnings)
    assert any(str(slides) in message for message in warnings)


class Site:
    """``/handbook.html`` and a 404 for anything else."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        found = scope["path"] == "/handbook.html"
        body = b"<html><body><p>Parental leave is sixteen weeks.</p></body></html>" if found else b"no"
        content_type = b"text/html; charset=utf-8" if found else b"text/plain"
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200 if found else 404, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def site_port() -> Iterator[int]:
    with serve_asgi(Site()) as port:
        yield port


async def test_url_sources_are_fetched_and_one_that_fails_is_a_failed_content(
    sqlite_space: KnowledgeSpace, site_port: int
) -> None:
    prefix = f"http://127.0.0.1:{site_port}"
    base = sqlite_space.base(
        allowed_hosts=[f"127.0.0.1:{site_port}"],
        sources=[{"url": f"{prefix}/handbook.html", "name": "handbook"}, {"url": f"{prefix}/gone.html"}],
    )

    hub = await sqlite_space.open(base)
    await hub.wait_idle()

    contents = {c.name: c for c in (await hub["docs"].list())[0]}
    assert (contents["handbook"].status, contents["handbook"].type) == ("completed", "url")
    gone = contents[f"{prefix}/gone.html"]
    assert (gone.status, gone.status_message) == ("failed", f"fetching {prefix}/gone.html failed: HTTP 404")
    (hit,) = await hub["docs"].search("parental leave", max_results=1)
    assert hit.content == "Parental leave is sixteen weeks."


async def test_a_failed_url_source_is_named_without_its_credentials_or_query(
    sqlite_space: KnowledgeSpace, site_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://reader:hunter2@127.0.0.1:{site_port}/gone.html?token=s3cr3t"
    base = sqlite_space.base(allowed_hosts=[f"127.0.0.1:{site_port}"], sources=[{"url": url, "name": "gone"}])

    with caplog.at_level(logging.WARNING, logger="agentos_runtime.knowledge"):
        hub = await sqlite_space.open(base)
        await hub.wait_idle()

    (gone,) = (await hub["docs"].list())[0]
    assert gone.status_message == f"fetching http://127.0.0.1:{site_port}/gone.html failed: HTTP 404"
    assert gone.metadata[SOURCE_KEY].startswith(f"http://127.0.0.1:{site_port}/gone.html#sha256=")
    for secret in ("hunter2", "s3cr3t"):
        assert all(secret not in record.getMessage() for record in caplog.records)
        assert secret not in repr(gone.metadata)


async def test_two_replicas_starting_together_load_each_source_document_once(
    space: KnowledgeSpace, tmp_path: Path
) -> None:
    root = config_map(tmp_path / "docs", {"guide.md": GUIDE, "faq.txt": FAQ})
    base = space.base(sources=[{"path": str(root)}])
    first, second = await space.open(base, start=False), await space.open(base, start=False)

    await asyncio.gather(first.start(maintain=False), second.start(maintain=False))
    await asyncio.gather(first.wait_idle(), second.wait_idle())

    contents, total = await first["docs"].list(sort_by="name", sort_order="asc")
    assert total == 2
    assert [(c.name, c.status) for c in contents] == [("faq.txt", "completed"), ("guide.md", "completed")]
    assert await first["docs"].store.counts() == (2, 2)
    assert sorted(space.embedders[0].texts + space.embedders[1].texts) == sorted([GUIDE, FAQ])


class Redirects:
    """``/in`` redirects to ``/page`` on the same host, ``/out`` to another host, ``/metadata`` to
    ``metadata.test`` (the cloud metadata address, for ``fake_dns``), ``/big`` is 2 KiB."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope["path"]
        headers = [(b"content-type", b"text/plain")]
        targets = {"/in": b"/page", "/out": b"http://elsewhere.test/page", "/metadata": b"http://metadata.test/page"}
        if path in targets:
            target = targets[path]
            await send({"type": "http.response.start", "status": 302, "headers": [*headers, (b"location", target)]})
            await send({"type": "http.response.body", "body": b""})
            return
        body = b"x" * 2048 if path == "/big" else b"the page"
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def redirects_port() -> Iterator[int]:
    with serve_asgi(Redirects()) as port:
        yield port


async def test_a_download_follows_redirects_on_allowed_hosts_only_and_refuses_more_than_the_limit(
    redirects_port: int,
) -> None:
    prefix = f"http://127.0.0.1:{redirects_port}"
    allowed = [f"127.0.0.1:{redirects_port}"]

    fetched = await fetch_url(f"{prefix}/in", allowed_hosts=allowed, max_bytes=1024)
    with pytest.raises(FetchFailed) as out:
        await fetch_url(f"{prefix}/out", allowed_hosts=allowed, max_bytes=1024)
    with pytest.raises(FetchFailed) as big:
        await fetch_url(f"{prefix}/big", allowed_hosts=allowed, max_bytes=1024)

    assert (fetched.data, fetched.filename) == (b"the page", "page")
    assert out.value.status_code == 400
    assert "host 'elsewhere.test' is not in allowed_hosts" in out.value.detail
    assert big.value.status_code == 413
    assert big.value.detail == f"fetching {prefix}/big failed: larger than 1024 bytes"


async def test_a_download_is_refused_with_400_naming_the_host_when_it_resolves_to_the_metadata_address(
    redirects_port: int,
) -> None:
    refusal = "refused: host 'metadata.test' resolves to 169.254.169.254: 169.254.169.254 is a link-local address"
    allowed = [f"intranet.test:{redirects_port}", "metadata.test"]

    fetched = await fetch_url(
        f"http://intranet.test:{redirects_port}/in", allowed_hosts=allowed, max_bytes=1024, resolver=fake_dns()
    )
    with pytest.raises(FetchFailed) as direct:
        await fetch_url("http://metadata.test/latest", allowed_hosts=allowed, max_bytes=1024, resolver=fake_dns())
    with pytest.raises(FetchFailed) as redirected:
        await fetch_url(
            f"http://intranet.test:{redirects_port}/metadata",
            allowed_hosts=allowed,
            max_bytes=1024,
            resolver=fake_dns(),
        )

    assert fetched.data == b"the page"
    assert direct.value.status_code == 400
    assert direct.value.detail.startswith(f"fetching http://metadata.test/latest failed: {refusal}")
    assert redirected.value.status_code == 400
    assert redirected.value.detail.startswith(
        f"fetching http://intranet.test:{redirects_port}/metadata failed: {refusal}"
    )


async def test_a_url_source_resolving_to_the_metadata_address_is_a_failed_content_saying_why(
    sqlite_space: KnowledgeSpace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(guarded_http, "system_resolver", fake_dns())
    base = sqlite_space.base(allowed_hosts=["metadata.test"], sources=[{"url": "http://metadata.test/latest"}])

    hub = await sqlite_space.open(base)
    await hub.wait_idle()

    (content,) = (await hub["docs"].list())[0]
    assert content.status == "failed"
    assert content.status_message.startswith(
        "fetching http://metadata.test/latest failed: refused: host 'metadata.test'"
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://docs.example.com/a\r\nX-Injected: 1", "'\\r') at position 26"),
        ("https://docs.example.com/a\tb", "'\\t') at position 26"),
        ("https://docs.\nexample.com/", "'\\n') at position 13"),
    ],
    ids=["crlf", "tab", "lf-in-host"],
)
def test_a_url_holding_a_control_character_is_refused_as_content_and_as_a_source(url: str, shown: str) -> None:
    """``urlsplit`` drops CR, LF and TAB without a word, and the HTTP client refuses them:
    such a URL is refused before it is stored, wherever it comes from."""
    with pytest.raises(BadRequest) as caught:
        check_content_url(url, ["docs.example.com"])
    with pytest.raises(ValidationError) as invalid:
        KnowledgeBaseConfig.model_validate(
            {"id": "docs", "allowed_hosts": ["docs.example.com"], "sources": [{"url": url}]}
        )

    assert caught.value.detail == (
        f"url: refused: the URL holds a control character ({shown}: remove it, or percent-encode it"
    )
    assert "sources[0].url refused" in str(invalid.value)


async def test_a_url_the_http_client_refuses_fails_the_download_with_a_plain_reason() -> None:
    url = "http://127.0.0.1:9/" + "a" * 70_000  # past the client's longest URL, on an allowed host

    with pytest.raises(FetchFailed) as caught:
        await fetch_url(url, allowed_hosts=["127.0.0.1:9"], max_bytes=1024)

    assert caught.value.status_code == 400
    assert caught.value.detail == f"fetching {url} failed: the HTTP client refuses the URL as invalid"


async def test_a_pipe_is_refused_at_once_instead_of_blocking_the_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.md"
    os.mkfifo(fifo)
    reading = asyncio.ensure_future(asyncio.to_thread(read_file_capped, fifo, 1000))
    try:
        with pytest.raises(UnreadableContent, match="'fifo.md' is not a regular file"):
            await asyncio.wait_for(asyncio.shield(reading), 5)
    finally:  # a read that blocked ends once a writer comes and goes
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
        await asyncio.gather(reading, return_exceptions=True)


def test_symlinks_back_into_a_source_directory_add_nothing_and_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "MAX_DEPTH", 6)  # so a walk that doubles at every level still ends
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "doc.md").write_text("doc")
    (root / "sub" / "deep.md").write_text("deep")
    for name in ("again", "and-again"):
        (root / name).symlink_to(".")
    (root / "sub" / "up").symlink_to("..")
    (root / "alias.md").symlink_to("doc.md")

    files = source_files(root, supported=supported_file)

    assert sorted(path.relative_to(root).as_posix() for path in files) in (
        ["alias.md", "sub/deep.md"],
        ["doc.md", "sub/deep.md"],
    )


def test_a_source_file_whose_name_is_not_utf8_is_found_again_to_be_refreshed(tmp_path: Path) -> None:
    path = tmp_path / os.fsdecode(b"notes-\xff\xfe.md")
    path.write_text("notes")
    content = Content(id="c1", name="notes", linked_to="kb", external_id=path.absolute().as_uri())

    payload = resumable_payload(content)

    assert payload is not None and payload.path == path.absolute()
    assert read_file_capped(payload.path, 100) == b"notes"


def test_hidden_files_and_directories_of_a_source_are_not_documents(tmp_path: Path) -> None:
    root = tmp_path / "checkout"
    (root / ".git").mkdir(parents=True)
    (root / ".git" / "config").write_text("[remote]\nurl = https://token@example.com/repo")
    (root / ".env").write_text("OPENAI_API_KEY=sk-secret")
    (root / "README.md").write_text("# Read me")

    files = source_files(root, supported=supported_file)

    assert [path.relative_to(root).as_posix() for path in files] == ["README.md"]


def test_directories_too_deep_to_walk_are_said_in_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sources, "MAX_DEPTH", 2)
    root = tmp_path / "docs"
    deep = root / "a" / "b" / "c"
    deep.mkdir(parents=True)
    (root / "a" / "b" / "shallow.md").write_text("read")
    (deep / "deep.md").write_text("not read")
    (root / "x" / "y" / "z").mkdir(parents=True)

    files = source_files(root, supported=supported_file)

    assert [path.relative_to(root).as_posix() for path in files] == ["a/b/shallow.md"]
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warning == (
        f"knowledge source {root}: 2 directories lie more than 2 levels below it and are not read, the first {deep}"
    )


def test_a_file_name_with_control_characters_is_escaped_in_log_lines(tmp_path: Path) -> None:
    assert one_line(tmp_path / "a\nWARNING forged\x1b[2J.md") == f"{tmp_path}/a\\nWARNING forged\\x1b[2J.md"
    assert one_line("plain name.md") == "plain name.md"
    assert one_line("caf\u00e9 \udcff") == "caf\u00e9 \\udcff"
