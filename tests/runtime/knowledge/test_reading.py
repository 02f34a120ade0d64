"""Reading documents: text, Markdown, HTML, PDF, JSON and CSV to text; every bad file a clear 4xx."""

from __future__ import annotations

import io
import threading
import time
import zlib

import pytest
from agentos_runtime.errors import AgentOSError
from agentos_runtime.knowledge import reading
from agentos_runtime.knowledge.reading import (
    ContentTooLarge,
    ReadDocument,
    ReadingStopped,
    UnreadableContent,
    UnsupportedContent,
    clean_text,
    detect_type,
    format_size,
    html_to_text,
    read_content,
)
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

LIMIT = 1024 * 1024


def read(data: bytes, filename: str | None = None, content_type: str | None = None, limit: int = LIMIT) -> ReadDocument:
    return read_content(data, filename=filename, content_type=content_type, max_bytes=limit)


def pdf_of(*pages: str, user_password: str | None = None, owner_password: str | None = None) -> bytes:
    """A PDF with one page per text (each line of it a line of Helvetica), compressed."""
    writer = PdfWriter()
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    for text in pages:
        page = writer.add_blank_page(width=612, height=792)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
        lines = [line.encode("latin-1").replace(b"(", rb"\(").replace(b")", rb"\)") for line in text.split("\n")]
        stream = DecodedStreamObject()
        stream.set_data(b"BT /F1 12 Tf 72 720 Td 14 TL " + b" ".join(b"(" + line + b") '" for line in lines) + b" ET")
        page.replace_contents(stream.flate_encode())
    if user_password is not None or owner_password is not None:
        writer.encrypt(user_password=user_password or "", owner_password=owner_password, algorithm="AES-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_plain_text_is_read_as_utf8() -> None:
    document = read("Vacation policy: 25 days, café included.".encode(), "policy.txt")

    assert document == ReadDocument(text="Vacation policy: 25 days, café included.", type="txt")


def test_a_byte_order_mark_decides_the_encoding() -> None:
    assert read("\ufeffhello".encode(), "a.txt").text == "hello"
    assert read("héllo wörld".encode("utf-16"), "b.txt").text == "héllo wörld"


def test_text_that_is_not_utf8_is_read_as_windows_1252() -> None:
    assert read("naïve “quotes” €".encode("cp1252"), "legacy.txt").text == "naïve “quotes” €"


def test_utf8_with_a_broken_sequence_stays_utf8() -> None:
    data = "café and naïve, then ".encode() + b"\xff" + b" and the end"

    assert read(data, "mostly.txt").text == "café and naïve, then \ufffd and the end"


def test_text_holding_a_lone_surrogate_is_read_with_it_replaced() -> None:
    data = "café \ud800 crème".encode("utf-8", "surrogatepass")

    assert read(data, "pasted.txt").text.replace("\ufffd", "?") == "café ??? crème"
    assert read(data, None, "text/plain; charset=utf-8").text.replace("\ufffd", "?") == "café ??? crème"


def test_a_declared_charset_is_honoured() -> None:
    assert read("Grüße".encode("iso-8859-1"), None, "text/plain; charset=iso-8859-1").text == "Grüße"


@pytest.mark.parametrize("charset", ["idna", "undefined", "punycode", "bz2", "uu_codec", "no-such-charset"])
def test_a_declared_charset_no_text_codec_can_read_is_ignored_and_the_bytes_decide(charset: str) -> None:
    assert read("Grüße".encode(), None, f"text/plain; charset={charset}").text == "Grüße"


def test_an_html_meta_charset_no_text_codec_can_read_is_ignored() -> None:
    page = "<html><head><meta charset=idna></head><body><p>Grüße</p></body></html>".encode()

    assert read(page, "page.html").text == "Grüße"


def test_nul_characters_are_removed() -> None:
    assert read(b"before\x00after", "odd.txt").text == "beforeafter"


def test_clean_text_replaces_lone_surrogates_so_the_text_encodes() -> None:
    cleaned = clean_text("half \ud83d of an emoji\x00, and \U0001f600 whole")

    assert cleaned == "half \ufffd of an emoji, and \U0001f600 whole"
    cleaned.encode("utf-8")


def test_markdown_is_kept_as_written() -> None:
    source = "# Title\n\nSome *emphasis* and a [link](https://example.com).\n"

    assert read(source.encode(), "guide.md") == ReadDocument(text=source, type="md")


def test_json_and_csv_are_read_as_text_of_their_own_type() -> None:
    assert read(b'{"a": 1}', "data.json") == ReadDocument(text='{"a": 1}', type="json")
    assert read(b"name,days\nann,25\n", None, "text/csv") == ReadDocument(text="name,days\nann,25\n", type="csv")


def test_html_keeps_visible_text_headings_and_paragraphs_but_no_scripts_or_styles() -> None:
    page = b"""<!doctype html><html><head><title>Ignored</title><style>p { color: red }</style></head>
    <body><h1>Vacation   <em>policy</em></h1><p>Everyone gets
    25 days.</p><script>alert("no")</script><p>Ask &amp; plan early.</p>
    <ul><li>Spring</li><li>Summer</li></ul>
    <table><tr><th>Team</th><th>Days</th></tr><tr><td>Ops</td><td>27</td></tr></table>
    <pre>  indented
      code</pre></body></html>"""

    document = read(page, "policy.html")

    assert document.type == "html"
    assert document.text == (
        "# Vacation policy\n\nEveryone gets 25 days.\n\nAsk & plan early.\n\n- Spring\n- Summer\n\n"
        "Team | Days\nOps | 27\n\n  indented\n      code"
    )


def test_html_blocks_nested_or_empty_leave_no_stray_lines_or_markers() -> None:
    page = """<ul><li><p>Nested   paragraph</p></li><li></li><li><div><b>Bold</b> <i>and italic</i></div></li></ul>
    <h3></h3><div><div><p>Deep</p></div></div>line<br>break<pre>
kept  as
  is</pre>"""

    assert html_to_text(page) == "- Nested paragraph\n\n- Bold and italic\n\nDeep\n\nline\nbreak\n\nkept  as\n  is"


def test_html_charset_comes_from_its_meta_tag() -> None:
    page = '<html><head><meta charset="iso-8859-1"></head><body><p>Grüße</p></body></html>'.encode("iso-8859-1")

    assert read(page, "page.htm").text == "Grüße"


def test_a_page_whose_head_is_never_closed_still_shows_its_body() -> None:
    assert html_to_text("<head><title>t</title><body><h2>Hi</h2><p>there</p>") == "## Hi\n\nthere"


def test_hidden_elements_opened_many_times_are_read_in_linear_time_and_still_hide_what_they_hold() -> None:
    # 60,000 open <svg> and 60,000 unrelated end tags inside them: each end tag used to be
    # looked up in the list of open hidden elements (half a minute here for 700 KB, hours for 20 MiB).
    page = "<p>Before</p>" + "<svg>" * 60_000 + "hidden</a>" * 60_000 + "<iframe></iframe></svg><p>After</p>"

    started = time.process_time()
    text = html_to_text(page)
    elapsed = time.process_time() - started

    assert text == "Before\n\nAfter"
    assert elapsed < 5.0  # about 0.3 s here; the quadratic lookup took over 30 s


def test_pdf_text_is_read_page_by_page() -> None:
    document = read(pdf_of("Hello PDF world\nsecond line", "Page two"), "report.pdf")

    assert document == ReadDocument(text="Hello PDF world\nsecond line\n\nPage two", type="pdf")


def test_a_pdf_with_only_an_owner_password_is_read() -> None:
    assert read(pdf_of("Open to read", owner_password="owner"), "open.pdf").text == "Open to read"


def test_an_encrypted_pdf_is_refused_with_400_saying_so() -> None:
    with pytest.raises(UnreadableContent) as caught:
        read(pdf_of("secret", user_password="pw"), "locked.pdf")

    assert caught.value.status_code == 400
    assert caught.value.detail == "file 'locked.pdf': the PDF is encrypted: upload a copy without a password"


@pytest.mark.parametrize(
    "garbage",
    [b"not a pdf at all", b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R", b"%PDF-1.4\n" + bytes(range(256)) * 8],
    ids=["text", "truncated", "binary"],
)
def test_garbage_named_pdf_is_refused_with_400_naming_the_file(garbage: bytes) -> None:
    with pytest.raises(UnreadableContent) as caught:
        read(garbage, "scan.pdf")

    assert caught.value.status_code == 400
    assert caught.value.detail.startswith("file 'scan.pdf': not a readable PDF")


def test_a_pdf_whose_text_is_over_the_limit_is_refused_at_the_page_that_passes_it_leaving_the_rest_unread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pypdf import PageObject

    page_text = "\n".join(["lorem ipsum dolor sit amet"] * 200)  # 5.4 KB a page, compressed to little
    document = pdf_of(*[page_text] * 10)
    assert len(document) < 12_000 < len(page_text) * 3
    read_pages: list[int] = []
    extract = PageObject.extract_text
    monkeypatch.setattr(
        PageObject, "extract_text", lambda page, **visitors: read_pages.append(1) or extract(page, **visitors)
    )

    with pytest.raises(ContentTooLarge) as caught:
        read(document, "report.pdf", limit=12_000)

    assert caught.value.status_code == 413
    assert caught.value.detail == (
        "file 'report.pdf': the PDF's text is over the knowledge base's limit of 11.7 KiB (max_content_bytes) "
        "by page 3: split the document or raise the limit"
    )
    assert len(read_pages) == 3


def test_a_pdf_stream_that_decompresses_far_beyond_the_limit_is_refused_before_it_is_parsed() -> None:
    bomb = pdf_of("A" * 45_000)  # a few hundred bytes of file, one 45 KB page stream
    assert len(bomb) < 1000

    with pytest.raises(ContentTooLarge) as caught:
        read(bomb, "bomb.pdf", limit=10_000)

    assert caught.value.status_code == 413
    assert caught.value.detail == (
        "file 'bomb.pdf': the PDF expands beyond what the reader accepts (each stream at most 39.1 KiB decompressed, "
        "4 times max_content_bytes): split the document or raise the limit"
    )


def test_a_pdf_of_images_only_has_no_text_to_index() -> None:
    with pytest.raises(UnreadableContent) as caught:
        read(pdf_of(""), "scan.pdf")

    assert caught.value.detail == (
        "file 'scan.pdf': no text to index (the document is empty, or its pages hold only images: run OCR on it first)"
    )


def test_an_oversized_file_is_refused_with_413_before_it_is_parsed() -> None:
    with pytest.raises(ContentTooLarge) as caught:
        read(b"%PDF-" + b"x" * 2048, "big.pdf", limit=2048)

    assert caught.value.status_code == 413
    assert caught.value.detail == (
        "file 'big.pdf': 2 KiB is over the knowledge base's limit of 2 KiB (max_content_bytes): "
        "upload a smaller document or raise the limit"
    )


def test_an_unsupported_extension_is_refused_with_415_listing_what_is_supported() -> None:
    with pytest.raises(UnsupportedContent) as caught:
        read(b"PK\x03\x04", "notes.docx")

    assert caught.value.status_code == 415
    assert (
        caught.value.detail
        == "file 'notes.docx': type .docx is not supported; upload .txt, .md, .html, .pdf, .json or .csv"
    )


def test_an_unsupported_content_type_is_refused_with_415_naming_it() -> None:
    with pytest.raises(UnsupportedContent) as caught:
        read(b"\x89PNG\r\n", None, "image/png")

    assert caught.value.detail.startswith("content: content type image/png is not supported")


def test_the_extension_wins_over_the_content_type() -> None:
    assert detect_type(b"# Hi", filename="README.md", content_type="text/plain") == "md"


def test_a_known_content_type_reads_a_page_whose_extension_is_a_web_servers() -> None:
    document = read(b"<p>Served by PHP</p>", "index.php", "text/html; charset=utf-8")

    assert document == ReadDocument(text="Served by PHP", type="html")


def test_a_long_file_name_is_shortened_in_messages() -> None:
    with pytest.raises(UnsupportedContent) as caught:
        read(b"x", "n" * 300 + ".docx")

    assert caught.value.detail.startswith("file '" + "n" * 117 + "...': type .docx is not supported")


@pytest.mark.parametrize("content_type", [None, "application/octet-stream"])
def test_a_file_without_type_is_sniffed_as_pdf_or_text(content_type: str | None) -> None:
    assert detect_type(b"%PDF-1.7 ...", filename="upload", content_type=content_type) == "pdf"
    assert detect_type(b"plain words", filename=None, content_type=content_type) == "txt"


def test_binary_data_without_type_is_refused_with_415() -> None:
    with pytest.raises(UnsupportedContent) as caught:
        read(b"\x00\x01\x02\x03binary", "blob", "application/octet-stream")

    assert "the data is not text and names no type" in caught.value.detail


def test_binary_data_named_as_text_is_refused_with_400() -> None:
    with pytest.raises(UnreadableContent) as caught:
        read(bytes(range(256)) * 4, "data.txt")

    assert caught.value.detail.startswith("file 'data.txt': the data is binary, not text")


def test_blank_text_has_nothing_to_index() -> None:
    with pytest.raises(UnreadableContent) as caught:
        read(b" \n\t ", "empty.txt")

    assert caught.value.detail == "file 'empty.txt': no text to index (the document is empty)"


def test_every_refusal_is_an_agentos_error_with_a_4xx_status() -> None:
    for error in (UnsupportedContent, ContentTooLarge, UnreadableContent):
        assert issubclass(error, AgentOSError)
        assert 400 <= error("x").status_code < 500


@pytest.mark.parametrize(
    ("size", "shown"), [(512, "512 bytes"), (2048, "2 KiB"), (1536, "1.5 KiB"), (20 * 1024 * 1024, "20 MiB")]
)
def test_sizes_are_shown_as_people_read_them(size: int, shown: str) -> None:
    assert format_size(size) == shown


def shared_stream_pdf(
    repetitions: int,
    pages: int,
    operation: bytes = b"1 0 0 1 72 720 Tm () Tj\n",
    *,
    page_operations: bytes | None = None,
    fonts: int = 1,
    to_unicode: bytes | None = None,
) -> bytes:
    """A PDF whose ``pages`` all draw one Flate stream of ``operation`` repeated ``repetitions``
    times (the hostile tester's bomb): a few kilobytes that ask ``pypdf`` to parse the stream
    once per page. With ``page_operations``, that is each page's content and the shared stream
    is the form ``/X1``; ``fonts`` names of one font,
    whose ``/ToUnicode`` map is ``to_unicode``."""
    shared = zlib.compress(operation * repetitions, 9)
    font = (
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica" + (b" /ToUnicode 5 0 R" if to_unicode else b"") + b" >>"
    )
    font_names = b" ".join(b"/F%d 4 0 R" % number for number in range(1, fonts + 1))
    resources = b"<< /Font << " + font_names + b" >> /XObject << /X1 6 0 R >> >>"
    page_stream, form_stream = (shared, b"") if page_operations is None else (zlib.compress(page_operations), shared)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % (8 + n) for n in range(pages)) + b"] /Count %d >>" % pages,
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(page_stream) + page_stream + b"\nendstream",
        font,
        b"<< /Length %d >>\nstream\n" % len(to_unicode or b"") + (to_unicode or b"") + b"\nendstream",
        b"<< /Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources 7 0 R /Length %d /Filter /FlateDecode >>"
        b"\nstream\n" % len(form_stream) + form_stream + b"\nendstream",
        resources,
    ]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R /Resources 7 0 R >>"] * pages
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@pytest.fixture
def pages_parsed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of each page pypdf extracts text from, in order."""
    from pypdf import PageObject

    parsed: list[int] = []
    extract = PageObject.extract_text

    def counted(page: PageObject, *args: object, **kwargs: object) -> str:
        parsed.append(page.page_number or 0)
        return extract(page, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(PageObject, "extract_text", counted)
    return parsed


def test_pages_sharing_one_huge_stream_are_refused_before_pypdf_parses_any(pages_parsed: list[int]) -> None:
    bomb = shared_stream_pdf(150_000, 8)  # 10 KB of file, 3.6 MB of instructions a page, no text
    assert len(bomb) < 12_000

    with pytest.raises(ContentTooLarge) as caught:
        read(bomb, "bomb.pdf", limit=20 * 1024 * 1024)  # the default max_content_bytes: no stream is too large

    assert caught.value.status_code == 413
    assert caught.value.detail == (
        "file 'bomb.pdf': the PDF asks for more work than reading one page allows: page 1 has more than 1 MiB of "
        "drawing instructions and font maps to parse (forms counted each time they are drawn): "
        "split the document or upload its text (.txt) instead"
    )
    assert pages_parsed == []


def test_a_stream_every_page_shares_counts_each_time_it_is_parsed(
    monkeypatch: pytest.MonkeyPatch, pages_parsed: list[int]
) -> None:
    monkeypatch.setattr(reading, "PDF_MAX_WORK", 200_000)
    document = shared_stream_pdf(2_000, 8)  # 50 KB a page: 4 pages fit in 200,000 bytes

    with pytest.raises(ContentTooLarge) as caught:
        read(document, "shared.pdf")

    assert caught.value.detail == (
        "file 'shared.pdf': the PDF asks for more work than reading one document allows: more than 195.3 KiB of "
        "drawing instructions and font maps to parse by page 5 (pages sharing them count them each time): "
        "split the document or upload its text (.txt) instead"
    )
    assert pages_parsed == [0, 1, 2, 3]


def test_a_form_drawn_many_times_counts_each_time_it_is_drawn(pages_parsed: list[int]) -> None:
    # One page (7 KB) draws a 9.6 KB form 1,000 times: 9.6 MB to parse, stopped past 1 MiB.
    document = shared_stream_pdf(400, 1, page_operations=b"/X1 Do\n" * 1_000)
    charges: list[int] = []
    original = reading.PdfWork.charge

    def charge(self: reading.PdfWork, size: int) -> None:
        charges.append(size)
        original(self, size)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reading.PdfWork, "charge", charge)
        with pytest.raises(ContentTooLarge) as caught:
            read(document, "forms.pdf")

    assert "page 1 has more than 1 MiB of drawing instructions" in caught.value.detail
    assert pages_parsed == [0]
    assert charges[:2] == [7_000, 0]  # the page's content, its fonts' maps (none)
    assert charges[2:] == [9_600] * ((reading.PDF_MAX_PAGE_WORK - 7_000) // 9_600 + 1)  # each draw, to the limit


def test_a_font_map_counts_for_each_font_and_page_using_it(pages_parsed: list[int]) -> None:
    entries = b"\n".join(b"<%04X> <0041>" % code for code in range(100))
    to_unicode = (b"begincmap\n100 beginbfchar\n" + entries + b"\nendbfchar\nendcmap\n") * 60  # 84 KB
    document = shared_stream_pdf(1, 1, b"BT /F1 12 Tf (a) Tj ET\n", fonts=20, to_unicode=to_unicode)

    with pytest.raises(ContentTooLarge) as caught:
        read(document, "fonts.pdf")

    assert "page 1 has more than 1 MiB of drawing instructions and font maps" in caught.value.detail
    assert pages_parsed == []


def test_a_pdf_of_more_pages_than_allowed_is_refused_before_any_is_read(pages_parsed: list[int]) -> None:
    document = shared_stream_pdf(1, reading.PDF_MAX_PAGES + 1, b"BT /F1 12 Tf (a) Tj ET\n")

    with pytest.raises(ContentTooLarge) as caught:
        read(document, "long.pdf")

    assert caught.value.detail == (
        "file 'long.pdf': the PDF has 2,001 pages, more than the 2,000 one document may have: "
        "split the document or upload its text (.txt) instead"
    )
    assert pages_parsed == []


def test_pages_sharing_a_small_stream_with_text_are_read_within_the_limits() -> None:
    document = shared_stream_pdf(1, reading.PDF_MAX_PAGES, b"BT /F1 12 Tf 72 720 Td (Shared page) Tj ET\n")

    text = read(document, "shared.pdf").text

    assert text == "\n\n".join(["Shared page"] * reading.PDF_MAX_PAGES)


def test_a_normal_pdf_of_many_text_pages_is_read_whole() -> None:
    pages = [f"Chapter {number}\n" + "\n".join(["lorem ipsum dolor sit amet"] * 40) for number in range(1, 121)]

    text = read(pdf_of(*pages), "book.pdf").text

    assert text == "\n\n".join(pages)


class StopAfter(threading.Event):
    """A stop signal that is set once it has been asked ``checks`` times."""

    def __init__(self, checks: int) -> None:
        super().__init__()
        self.left = checks
        self.asked = 0

    def is_set(self) -> bool:
        self.asked += 1
        self.left -= 1
        return self.left < 0 or super().is_set()


def test_a_stopped_reading_ends_within_the_page_it_is_on() -> None:
    document = shared_stream_pdf(15_000, 8)  # 300,000 operations a page, within the limits
    stop = StopAfter(1_000)

    with pytest.raises(ReadingStopped) as caught:
        read_content(document, filename="slow.pdf", content_type=None, max_bytes=LIMIT, stop=stop)

    assert caught.value.detail == (
        "file 'slow.pdf': reading stopped at page 1: the content was deleted or the runtime is stopping"
    )
    assert stop.asked == 1_001  # once before the page, then before each operation: the rest never ran


def test_a_reading_stopped_before_it_starts_reads_nothing(pages_parsed: list[int]) -> None:
    stop = threading.Event()
    stop.set()

    with pytest.raises(ReadingStopped):
        read_content(pdf_of("Hello"), filename="a.pdf", content_type=None, max_bytes=LIMIT, stop=stop)

    assert pages_parsed == []


@pytest.mark.parametrize("charset", ["punycode", "idna", "x-made-up", "base64"])
def test_a_declared_charset_that_is_no_charset_read_here_is_ignored_for_what_the_bytes_say(charset: str) -> None:
    """Punycode decodes in time growing with the square of the text (and ``hello-world`` is
    ``h\u0e64\u0e66ello\u0e65`` in it): a document declaring it is read as any undeclared one."""
    read = reading.read_content(
        b"hello-world", filename=None, content_type=f"text/plain; charset={charset}", max_bytes=1_000
    )

    assert read.text == "hello-world"


def test_what_the_parser_leaves_open_at_the_end_of_a_page_is_read_as_text_not_by_its_end_of_page_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """html.parser's own end-of-page pass over a construct left open takes time growing with the
    square of its length (a minute for 160 KB of ``<a b='>'``): it is given nothing to parse."""
    from html.parser import HTMLParser

    left_at_close: list[str] = []
    close = HTMLParser.close

    def recorded(parser: HTMLParser) -> None:
        left_at_close.append(parser.rawdata)
        close(parser)

    monkeypatch.setattr(HTMLParser, "close", recorded)

    text = html_to_text("<p>Hello</p><a b='>'<p>world &amp; more" + "<a b='>'" * 2_000)

    assert text.startswith("Hello\n\nworld & more")
    assert left_at_close == [""]


def test_a_declaration_the_parser_refuses_makes_the_page_unreadable_naming_it() -> None:
    with pytest.raises(
        UnreadableContent, match=r"^file 'page\.html': the HTML cannot be read \(unknown status keyword"
    ):
        reading.read_content(b"<p>x</p><![foo]>", filename="page.html", content_type=None, max_bytes=1_000)


def test_reading_a_page_stops_once_told_to() -> None:
    stop = threading.Event()
    stop.set()

    with pytest.raises(reading.ReadingStopped, match="^file 'page.html': reading stopped"):
        reading.read_content(b"<p>x</p>", filename="page.html", content_type=None, max_bytes=1_000, stop=stop)
