"""Documents to plain text: text, Markdown, HTML, PDF, JSON and CSV, read before they are chunked.

``read_content`` is synchronous and CPU-only (a PDF can take seconds): callers on the event
loop run it in a worker thread. It checks the size before parsing anything, takes the type
from the file name's extension (else the content type, else the bytes themselves), and turns
every way a document can be unreadable into one of three errors a client can act on:
``UnsupportedContent`` (415), ``ContentTooLarge`` (413) and ``UnreadableContent`` (400), each
naming the file and what to do. Text comes out without NUL characters or lone surrogates, so
every store and every JSON encoder accepts it. HTML goes through the standard library's
parser, at about 1 MB of markup per second on one core.

A PDF is bounded by the work of reading it, not only by its size (``PdfWork``): its pages, and
the bytes of drawing instructions and font maps ``pypdf`` is about to parse, counted before they
are parsed and each time they are (pages that share one stream, a form drawn many times). A
caller can stop the reading of a PDF from another thread (``stop``): it ends at the next page or
drawing operation.
"""

from __future__ import annotations

import codecs
import io
import re
import threading
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any, Literal

from agentos_runtime.charsets import charset_codec
from agentos_runtime.errors import AgentOSError, BadRequest, Conflict

if TYPE_CHECKING:
    from pypdf import PageObject
    from pypdf.generic import DictionaryObject

DocumentType = Literal["txt", "md", "html", "pdf", "json", "csv"]

_EXTENSIONS: dict[str, DocumentType] = {
    "txt": "txt",
    "text": "txt",
    "log": "txt",
    "md": "md",
    "markdown": "md",
    "html": "html",
    "htm": "html",
    "xhtml": "html",
    "pdf": "pdf",
    "json": "json",
    "csv": "csv",
}
_CONTENT_TYPES: dict[str, DocumentType] = {
    "text/plain": "txt",
    "text/markdown": "md",
    "text/x-markdown": "md",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
    "application/json": "json",
    "text/csv": "csv",
}
# Content types that say nothing about the document (what browsers send for an unknown file):
# the bytes decide instead.
_GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream", "application/unknown"})
SUPPORTED_TYPES = ".txt, .md, .html, .pdf, .json or .csv"

# Bytes one stream of a PDF may decompress to, per byte of ``max_content_bytes`` (and never more
# than pypdf's own limits): a few kilobytes of compressed page stream can inflate to gigabytes
# (a "PDF bomb") that cost seconds of CPU per page to parse. A page's drawing may be several
# times larger than its text, so the bound is a multiple of the text's (``max_content_bytes``).
PDF_STREAM_EXPANSION_LIMIT = 4
# pypdf's limits on the output of each decompression filter, bound by the one above.
_PDF_DECOMPRESSION_LIMITS = (
    "zlib_maximum_output_length",
    "lzw_maximum_output_length",
    "run_length_maximum_output_length",
    "brotli_maximum_output_length",
    "array_based_stream_maximum_output_length",
)
# What reading one PDF may cost, decided before the work is done. ``pypdf`` parses about 0.5 to
# 1 MiB of drawing instructions per second on one core whatever they draw, and does it again for
# each page that shares a stream and each time a form is drawn: a few kilobytes of file can ask
# for hours. Text pages hold 5 to 20 KiB of instructions; a page of detailed vector drawing may
# hold a few hundred.
PDF_MAX_PAGES = 2_000
# Bytes of drawing instructions and font maps (``/ToUnicode``) parsed for one page: its content,
# the fonts it uses, and each form it draws, with their fonts, each time it is drawn.
PDF_MAX_PAGE_WORK = 1024 * 1024
# The same for the whole document, pages sharing a stream counting it each time: about half a
# minute of one core at most, above what a text document of PDF_MAX_PAGES pages needs.
PDF_MAX_WORK = 16 * 1024 * 1024
_PDF_WORK_FIX = "split the document or upload its text (.txt) instead"
# Bytes examined to tell text from binary data when nothing else says what a file is.
_SNIFF_BYTES = 8192
# Longest file name repeated in a message (names are the uploader's, and may be anything).
_NAME_SHOWN = 120
# Share of control characters above which undeclared bytes are taken for binary data.
_BINARY_CONTROL_RATIO = 0.1

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_REPLACEMENTS = re.compile("\ufffd+")
_NON_ASCII_BYTES = re.compile(rb"[\x80-\xff]")
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


class UnsupportedContent(AgentOSError):
    """A document of a type the runtime cannot read (415)."""

    status_code = 415


class ContentTooLarge(AgentOSError):
    """A document above the knowledge base's ``max_content_bytes`` (413)."""

    status_code = 413


class UnreadableContent(BadRequest):
    """A document of a supported type that cannot be read: damaged, encrypted, binary, or empty (400)."""


class ReadingStopped(Conflict):
    """Reading was stopped from outside (``stop``): the content was deleted, or the runtime is
    stopping (409)."""


@dataclass(frozen=True)
class ReadDocument:
    """The text of a document and the type it was read as (``Content.type``)."""

    text: str
    type: DocumentType


def read_content(
    data: bytes,
    *,
    filename: str | None,
    content_type: str | None,
    max_bytes: int,
    stop: threading.Event | None = None,
) -> ReadDocument:
    """The text of ``data``, read as the type its ``filename`` or ``content_type`` says.

    Raises ``ContentTooLarge`` when ``data`` (or, for a PDF, its text in UTF-8, or one of its
    streams decompressed beyond ``PDF_STREAM_EXPANSION_LIMIT`` times) is over ``max_bytes``, or
    a PDF asks for more work than ``PdfWork`` allows; ``UnsupportedContent`` for a type that is
    not text, Markdown, HTML, PDF, JSON or CSV; ``UnreadableContent`` for a damaged or encrypted
    PDF, binary data, or a document without any text; ``ReadingStopped`` once ``stop`` is set
    while a PDF is read (it is checked between pages and drawing operations).
    """
    label = describe(filename)
    if len(data) > max_bytes:
        raise ContentTooLarge(
            f"{label}: {format_size(len(data))} is over the knowledge base's limit of {format_size(max_bytes)} "
            "(max_content_bytes): upload a smaller document or raise the limit"
        )
    kind = detect_type(data, filename=filename, content_type=content_type)
    charset = _charset(content_type)
    if kind == "pdf":
        text = _read_pdf(data, label=label, max_bytes=max_bytes, stop=stop)
    elif kind == "html":
        html = decode_text(data, label=label, charset=charset or _meta_charset(data))
        text = html_to_text(html, label=label, stop=stop)
    else:
        text = decode_text(data, label=label, charset=charset)
    text = clean_text(text)
    if not text.strip():
        raise UnreadableContent(f"{label}: no text to index (the document is empty{_empty_hint(kind)})")
    return ReadDocument(text=text, type=kind)


def detect_type(data: bytes, *, filename: str | None, content_type: str | None) -> DocumentType:
    """What a document is: its extension's type, else its content type's (also when the
    extension is one of a web server's, such as ``.php``, and the content type is known), else
    what the bytes look like (a PDF, or text). Raises ``UnsupportedContent`` naming the type
    and the supported ones."""
    label = describe(filename)
    extension = _extension(filename)
    if extension in _EXTENSIONS:
        return _EXTENSIONS[extension]
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type in _CONTENT_TYPES:
        return _CONTENT_TYPES[media_type]
    if extension:
        raise UnsupportedContent(f"{label}: type .{extension} is not supported; upload {SUPPORTED_TYPES}")
    if media_type not in _GENERIC_TYPES:
        raise UnsupportedContent(f"{label}: content type {media_type} is not supported; upload {SUPPORTED_TYPES}")
    if data.startswith(b"%PDF-"):
        return "pdf"
    if _looks_binary(data[:_SNIFF_BYTES]):
        raise UnsupportedContent(
            f"{label}: the data is not text and names no type (no file extension or content type); "
            f"upload {SUPPORTED_TYPES}"
        )
    return "txt"


def decode_text(data: bytes, *, label: str, charset: str | None = None) -> str:
    """Bytes to text: the declared ``charset`` (unless no text codec of that name can read
    it), else UTF-8 (a byte-order mark is honoured, UTF-16's included), else Windows-1252
    (what legacy text files mostly are). UTF-8 with a few broken sequences stays UTF-8, each
    broken one a U+FFFD: it is Windows-1252 only when the bytes hold more broken sequences
    than valid non-ASCII characters.

    Raises ``UnreadableContent`` for binary data passed off as text."""
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    codec = charset_codec(charset) if charset else None
    if codec is not None:  # else (an unknown label, no charset read here) decided by the bytes below
        try:
            return data.decode(codec, errors="replace")
        except UnicodeError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if not _looks_binary(data[:_SNIFF_BYTES]):
        text = data.decode("utf-8", errors="replace")
        written = data.count("\ufffd".encode())  # replacement characters the text itself holds
        broken = len(_REPLACEMENTS.findall(text)) - written
        valid_non_ascii = len(text) - text.count("\ufffd") + written - _ascii_count(data)
        if valid_non_ascii > broken:
            return text
    if _looks_binary(data[:_SNIFF_BYTES]):
        raise UnreadableContent(f"{label}: the data is binary, not text: upload the document as {SUPPORTED_TYPES}")
    return data.decode("cp1252", errors="replace")


def clean_text(text: str) -> str:
    """``text`` without NUL characters (PostgreSQL refuses them) and with each lone surrogate
    (JSON and UTF-8 refuse them) replaced by U+FFFD."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    return _LONE_SURROGATE.sub("\ufffd", text)


def describe(filename: str | None) -> str:
    """How messages name a document: ``file 'report.pdf'``, or ``content`` without a name."""
    if not filename:
        return "content"
    if len(filename) > _NAME_SHOWN:
        filename = filename[: _NAME_SHOWN - 3] + "..."
    return f"file '{filename}'"


def format_size(size: int) -> str:
    """``512 bytes``, ``12.5 KiB``, ``20 MiB``: sizes as people read them."""
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}".replace(".0 ", " ")
    raise AssertionError("unreachable")


def _extension(filename: str | None) -> str:
    if not filename:
        return ""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, extension = name.rpartition(".")
    return extension.lower() if dot and stem else ""


def _charset(content_type: str | None) -> str | None:
    for parameter in (content_type or "").split(";")[1:]:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'")
    return None


def _meta_charset(data: bytes) -> str | None:
    match = _META_CHARSET.search(data[:_SNIFF_BYTES])
    return match.group(1).decode("ascii") if match else None


def _ascii_count(data: bytes) -> int:
    return len(data) - len(_NON_ASCII_BYTES.findall(data))


def _looks_binary(sample: bytes) -> bool:
    if b"\x00" in sample:
        return True
    return bool(sample) and len(_CONTROL_BYTES.findall(sample)) > len(sample) * _BINARY_CONTROL_RATIO


def _empty_hint(kind: DocumentType) -> str:
    return ", or its pages hold only images: run OCR on it first" if kind == "pdf" else ""


@dataclass
class PdfWork:
    """The work reading one PDF has asked for so far, in bytes that ``pypdf`` is about to parse
    (drawing instructions and font maps), for the page being read and the whole document.
    ``charge`` is called before the bytes are parsed, so work over a limit is never done."""

    label: str
    page_number: int = 0
    page: int = 0
    document: int = 0

    def check_pages(self, count: int) -> None:
        """``ContentTooLarge`` for a document of more than ``PDF_MAX_PAGES`` pages."""
        if count > PDF_MAX_PAGES:
            raise ContentTooLarge(
                f"{self.label}: the PDF has {count:,} pages, more than the {PDF_MAX_PAGES:,} one document may have: "
                f"{_PDF_WORK_FIX}"
            )

    def start_page(self, number: int) -> None:
        self.page_number = number
        self.page = 0

    def charge(self, size: int) -> None:
        """Count ``size`` bytes about to be parsed; ``ContentTooLarge`` when the page or the
        document would then be over its limit."""
        self.page += size
        self.document += size
        if self.page > PDF_MAX_PAGE_WORK:
            raise ContentTooLarge(
                f"{self.label}: the PDF asks for more work than reading one page allows: page {self.page_number} "
                f"has more than {format_size(PDF_MAX_PAGE_WORK)} of drawing instructions and font maps to parse "
                f"(forms counted each time they are drawn): {_PDF_WORK_FIX}"
            )
        if self.document > PDF_MAX_WORK:
            raise ContentTooLarge(
                f"{self.label}: the PDF asks for more work than reading one document allows: more than "
                f"{format_size(PDF_MAX_WORK)} of drawing instructions and font maps to parse by page "
                f"{self.page_number} (pages sharing them count them each time): {_PDF_WORK_FIX}"
            )


class _Abort(BaseException):
    """Ends text extraction from inside ``pypdf``: a ``BaseException``, so that its handlers
    around forms (``except Exception``) cannot swallow it. Carries the error to raise."""

    def __init__(self, error: AgentOSError) -> None:
        super().__init__(error.detail)
        self.error = error


@dataclass
class _PdfWatch:
    """What ``pypdf`` calls before and after each operation of a page (its visitors): charges
    each form before ``pypdf`` parses it, and ends the reading once ``stop`` is set. Follows the
    resources in force as ``pypdf`` does: a form's own, while its operations are visited."""

    work: PdfWork
    stop: threading.Event | None
    stream_limit: int
    resources: list[DictionaryObject | None] = field(default_factory=list)

    def start_page(self, page: PageObject, number: int) -> None:
        self.check_stop()
        self.work.start_page(number)
        resources = _resources(page)
        self.resources = [resources]
        contents = page.get_contents()
        self.charge(len(contents.get_data()) if contents is not None else 0)
        self.charge(_font_map_bytes(resources))

    def check_stop(self) -> None:
        if self.stop is not None and self.stop.is_set():
            raise _Abort(
                ReadingStopped(
                    f"{self.work.label}: reading stopped at page {self.work.page_number}: "
                    "the content was deleted or the runtime is stopping"
                )
            )

    def charge(self, size: int) -> None:
        try:
            self.work.charge(size)
        except ContentTooLarge as error:
            raise _Abort(error) from None

    def before(self, operator: bytes, operands: Any, cm: Any, tm: Any) -> None:
        self.check_stop()
        if operator == b"Do" and operands:  # pypdf draws a form for exactly these
            from pypdf.errors import LimitReachedError

            form = _form(self.resources[-1], operands[0])
            self.resources.append(_resources(form) if form is not None else None)
            if form is None:
                return
            try:
                size = _stream_bytes(form) + _font_map_bytes(self.resources[-1])
            except LimitReachedError as error:
                raise _Abort(_too_expanded(self.work.label, self.stream_limit)) from error
            self.charge(size)

    def after(self, operator: bytes, operands: Any, cm: Any, tm: Any) -> None:
        if operator == b"Do" and operands and len(self.resources) > 1:
            self.resources.pop()


def _resources(owner: Any) -> DictionaryObject | None:
    """A page's or a form's ``/Resources`` (inherited, as ``pypdf`` reads them), or ``None``."""
    from pypdf.generic import DictionaryObject

    try:
        resources = _resolved(owner.get_inherited("/Resources"))
    except Exception:  # a /Parent chain that is damaged: pypdf finds no resources either
        return None
    return resources if isinstance(resources, DictionaryObject) else None


def _form(resources: DictionaryObject | None, name: Any) -> Any:
    """The form XObject ``name`` draws with ``resources`` in force; ``None`` for an image or
    anything ``pypdf`` will not parse."""
    from pypdf.generic import StreamObject

    if resources is None:
        return None
    try:
        forms: Any = resources["/XObject"].get_object()
        form = forms[name].get_object()
    except Exception:  # pypdf fails on it the same way, and parses nothing
        return None
    if not isinstance(form, StreamObject) or form.get("/Subtype") == "/Image":
        return None
    return form


def _stream_bytes(stream: Any) -> int:
    """Decoded bytes of ``stream`` (decoded once: ``pypdf`` keeps them), 0 when it cannot be
    decoded (``pypdf`` then parses nothing of it either). A stream that decompresses beyond the
    limits raises ``LimitReachedError``: each try would cost the decompression again."""
    from pypdf.errors import LimitReachedError

    try:
        return len(stream.get_data())
    except LimitReachedError:
        raise
    except Exception:
        return 0


def _font_map_bytes(resources: DictionaryObject | None) -> int:
    """Bytes of the font maps (``/ToUnicode`` and ``/Encoding`` streams) of the fonts in
    ``resources``: ``pypdf`` parses each of them again for every page or form drawn with them."""
    from pypdf.generic import DictionaryObject, StreamObject

    fonts = _resolved(resources.get("/Font")) if resources is not None else None
    if not isinstance(fonts, DictionaryObject):
        return 0
    total = 0
    for reference in fonts.values():
        font = _resolved(reference)
        if not isinstance(font, DictionaryObject):
            continue  # damaged: pypdf skips it too
        for key in ("/ToUnicode", "/Encoding"):
            value = _resolved(font.get(key))
            if isinstance(value, StreamObject):
                total += _stream_bytes(value)
    return total


def _resolved(value: Any) -> Any:
    """``value`` with its indirect reference followed; ``None`` when it cannot be."""
    try:
        return value.get_object() if value is not None else None
    except Exception:  # a reference to a damaged or missing object
        return None


def _too_expanded(label: str, stream_limit: int) -> ContentTooLarge:
    return ContentTooLarge(
        f"{label}: the PDF expands beyond what the reader accepts (each stream at most {format_size(stream_limit)} "
        f"decompressed, {PDF_STREAM_EXPANSION_LIMIT} times max_content_bytes): split the document or raise the limit"
    )


def _read_pdf(data: bytes, *, label: str, max_bytes: int, stop: threading.Event | None = None) -> str:
    """The text of a PDF, page after page, refused (``ContentTooLarge``) as soon as it is over
    ``max_bytes`` in UTF-8, as a text upload is, or asks for more work than ``PdfWork`` allows:
    the pages after that are never parsed. ``ReadingStopped`` once ``stop`` is set."""
    from pypdf import PdfReader, apply_configuration, get_configuration
    from pypdf.errors import FileNotDecryptedError, LimitReachedError

    stream_limit = max_bytes * PDF_STREAM_EXPANSION_LIMIT
    defaults = get_configuration()
    limits = {
        name: min(getattr(defaults, name), stream_limit)
        for name in _PDF_DECOMPRESSION_LIMITS
        if hasattr(defaults, name)  # a limit an older pypdf (from 6.18 on) does not know yet
    }
    work = PdfWork(label)
    watch = _PdfWatch(work, stop, stream_limit)
    try:
        with apply_configuration(**limits):
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted and not reader.decrypt(""):
                raise UnreadableContent(f"{label}: the PDF is encrypted: upload a copy without a password")
            work.check_pages(len(reader.pages))
            pages: list[str] = []
            size = 0
            for number, page in enumerate(reader.pages, start=1):
                watch.start_page(page, number)
                # With a visitor, pypdf parses every stream, also those without text (which it
                # skips otherwise): each is charged all the same.
                text = page.extract_text(visitor_operand_before=watch.before, visitor_operand_after=watch.after)
                text = text.strip()
                if not text:
                    continue
                size += len(text.encode("utf-8", "surrogatepass")) + (2 if pages else 0)  # "\n\n" between pages
                if size > max_bytes:
                    raise ContentTooLarge(
                        f"{label}: the PDF's text is over the knowledge base's limit of {format_size(max_bytes)} "
                        f"(max_content_bytes) by page {number}: split the document or raise the limit"
                    )
                pages.append(text)
    except _Abort as abort:
        raise abort.error from None
    except AgentOSError:
        raise
    except FileNotDecryptedError as error:
        raise UnreadableContent(f"{label}: the PDF is encrypted: upload a copy without a password") from error
    except LimitReachedError as error:
        raise _too_expanded(label, stream_limit) from error
    except Exception as error:
        # A parser of untrusted bytes: a damaged file raises anything from PdfReadError to
        # KeyError or RecursionError, and every one of them means the same to the uploader.
        raise UnreadableContent(
            f"{label}: not a readable PDF ({type(error).__name__}): upload an intact PDF"
        ) from error
    return "\n\n".join(pages)


# Elements whose text is never shown.
_HIDDEN = frozenset({"script", "style", "noscript", "template", "head", "svg", "iframe", "object"})
# Elements that sit on lines of their own.
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "caption", "dd", "details", "div", "dl", "dt", "fieldset",
        "figcaption", "figure", "footer", "form", "header", "hr", "li", "main", "nav", "ol", "p", "pre",
        "section", "summary", "table", "tbody", "tfoot", "thead", "tr", "ul",
    }
)  # fmt: skip
# Blocks that are paragraphs of their own (a blank line around them).
_PARAGRAPHS = frozenset({"p", "blockquote", "pre", "table", "ul", "ol", "dl", "section", "article", "figure", "hr"})
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_CELLS = frozenset({"td", "th"})
_SPACES = re.compile(r"[ \t\r\n\f\v]+")


# The characters of a page fed to the parser at once: ``stop`` is looked at between feeds.
HTML_FEED_CHARS = 1 << 16
_TAG = re.compile(r"<[^<>]*>")


def html_to_text(html: str, *, label: str = "the page", stop: threading.Event | None = None) -> str:
    """The visible text of an HTML page: scripts, styles and the head left out, headings as
    Markdown (``## Title``, so the Markdown chunker cuts there), one paragraph per block,
    list items as ``- item``, table rows as lines with cells separated by `` | ``, the text
    of ``<pre>`` as it is.

    What the parser could not parse by the end of the page (a tag, comment or declaration left
    open) is read as text without its tags, here: the parser's own end-of-page handling of it
    takes time growing with the square of its length (``<a b='>'`` repeated over 160 KB: a
    minute). Raises ``ReadingStopped`` once ``stop`` is set, ``UnreadableContent`` for a
    declaration the parser refuses (``<![foo]>``)."""
    parser = _TextExtractor()
    try:
        for start in range(0, len(html), HTML_FEED_CHARS):
            if stop is not None and stop.is_set():
                raise ReadingStopped(f"{label}: reading stopped: the content was deleted or the runtime is stopping")
            parser.feed(html[start : start + HTML_FEED_CHARS])
    except AssertionError as refused:  # html.parser's word on a declaration it cannot read
        raise UnreadableContent(f"{label}: the HTML cannot be read ({refused}): fix or remove that part") from None
    left, parser.rawdata = parser.rawdata, ""
    if left:
        parser.handle_data(unescape(_TAG.sub(" ", left)))
    parser.close()
    return "".join(parser.parts).strip()


class _TextExtractor(HTMLParser):
    """Writes text as it comes; a block asks for line breaks and a prefix (``- ``, ``## ``,
    `` | ``) that are written only when text follows, so empty and nested blocks leave no
    stray lines or markers."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden: list[str] = []
        """The hidden elements open, each once, in the order they were first opened: an end tag
        closes the first one of its name and everything opened after it, so an element opened
        again inside itself changes nothing. At most ``len(_HIDDEN)`` entries, however many
        times a page opens them (a list of every opening made each end tag's lookup quadratic)."""
        self._pre = 0
        self._pre_opened = False
        self._breaks = 0
        self._prefix = ""
        self._cells = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self._hidden.clear()  # a page whose head is never closed: browsers end it here too
        if tag in _HIDDEN:
            if tag not in self._hidden:
                self._hidden.append(tag)
            return
        if self._hidden:
            return
        if tag in _HEADINGS:
            self._block(2, "#" * _HEADINGS[tag] + " ")
        elif tag == "li":
            self._block(1, "- ")
        elif tag in _CELLS:
            self._prefix = " | " if self._cells else ""
            self._cells += 1
        elif tag == "tr":
            self._cells = 0
            self._block(1)
        elif tag == "br":
            self._breaks = max(self._breaks, 1)
        elif tag in _BLOCKS:
            self._block(2 if tag in _PARAGRAPHS else 1)
        if tag == "pre":
            self._pre += 1
            self._pre_opened = True

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _HIDDEN:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if self._hidden:
            if tag in self._hidden:
                del self._hidden[self._hidden.index(tag) :]
            return
        if tag in _HEADINGS or tag in _PARAGRAPHS or tag in _BLOCKS:
            self._block(2 if tag not in _BLOCKS or tag in _PARAGRAPHS else 1)
            self._prefix = ""  # an empty list item or heading leaves no marker behind
        if tag == "pre" and self._pre:
            self._pre -= 1

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        if self._pre:
            if self._pre_opened and data.startswith("\n"):
                data = data[1:]  # the line break right after <pre> is not content (as in browsers)
            self._pre_opened = False
            if data:
                self._flush()
                self.parts.append(data)
            return
        text = _SPACES.sub(" ", data)
        if not text.strip():
            if self.parts and not self._breaks and not self.parts[-1].endswith((" ", "\n")):
                self.parts.append(" ")  # the space between two inline elements
            return
        if self._breaks or self._prefix or not self.parts or self.parts[-1].endswith((" ", "\n")):
            text = text.lstrip()
        self._flush()
        self.parts.append(text)

    def _block(self, breaks: int, prefix: str = "") -> None:
        """Text from here on starts ``breaks`` lines down; a block inside a list item or a
        heading keeps its marker (``<li><p>``)."""
        self._breaks = max(self._breaks, breaks)
        if prefix:
            self._prefix = prefix

    def _flush(self) -> None:
        if self._breaks and self.parts:
            self.parts[-1] = self.parts[-1].rstrip(" ")
            self.parts.append("\n" * self._breaks)
        self._breaks = 0
        if self._prefix:
            self.parts.append(self._prefix)
            self._prefix = ""
