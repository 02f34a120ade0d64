"""Text to chunks: the pieces that are embedded and searched. Pure and deterministic.

Every chunk is a slice of the text with its surrounding whitespace trimmed, at most
``size`` characters long, and the chunks cover the text in order: what no chunk holds is
whitespace. A chunk repeats at most ``overlap`` characters of the one before it.

- ``fixed`` cuts chunks of ``size`` characters, each starting ``overlap`` characters before
  the end of the one before; a cut that would fall inside a word moves back to the last
  whitespace of the chunk's second half (a word longer than that is cut where it falls), so
  no chunk ends with a fragment of a word.
- ``recursive`` cuts the text into paragraphs, a paragraph too long into lines, then
  sentences, then words (a word longer than ``size`` is cut anywhere), and joins neighbouring
  pieces again while they fit: a chunk ends where the largest unit that fits ends. Its
  overlap starts at a word.
- ``markdown`` first cuts before each heading (``#`` to ``######``, outside fenced code),
  joins whole sections while they fit, and cuts a section longer than ``size`` as
  ``recursive`` does, with the overlap inside that section only.

The work is linear in the text's length: pieces are kept as positions into the text and
only the chunks themselves are copied, so 10 MB of text is chunked in about a second. How
many chunks a text makes depends on the settings too (50 characters repeating 49 make one
per character): ``max_chunks`` stops the cutting as soon as there would be more.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from agentos_runtime.config.knowledge import ChunkingSettings

Span = tuple[int, int]

# Where the recursive strategy may cut, largest unit first; a cut falls after the match, so
# the separator stays with the piece before it.
_PARAGRAPH = re.compile(r"\n[^\S\n]*\n\s*")
_LINE = re.compile(r"\n\s*")
_SENTENCE = re.compile(r"[.!?](?:[\"')\]\u2019\u201d]*)\s+|[\u3002\uff01\uff1f]\s*")
_SEPARATORS = (_PARAGRAPH, _LINE, _SENTENCE)
_WHITESPACE = " \t\n\r\f\v"
# A sentence longer than a chunk is cut into runs of words about this many times smaller.
_WORD_RUNS_PER_CHUNK = 8
# The first space of a run of whitespace before a word: where an overlap may start.
_WORD_START = re.compile(r"\s+(?=\S)")
_HEADING_OR_FENCE = re.compile(r"^ {0,3}(?:(#{1,6})(?=[ \t]|$)|(`{3,}|~{3,}))", re.MULTILINE)


class TooManyChunks(ValueError):
    """The text would be cut into more than ``limit`` chunks."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit:,} chunks")
        self.limit = limit


def chunk_text(text: str, settings: ChunkingSettings, *, max_chunks: int | None = None) -> list[str]:
    """The chunks of ``text`` by ``settings`` (strategy, size, overlap); none for blank text.
    ``TooManyChunks`` once there would be more than ``max_chunks``."""
    return [text[start:end] for start, end in chunk_spans(text, settings, max_chunks=max_chunks)]


def chunk_spans(text: str, settings: ChunkingSettings, *, max_chunks: int | None = None) -> list[Span]:
    """Where the chunks of ``text`` start and end (``text[start:end]`` is a chunk).
    ``TooManyChunks`` as soon as there would be more than ``max_chunks``."""
    size, overlap = settings.size, settings.overlap
    spans: Iterator[Span]
    if settings.strategy == "fixed":
        spans = _fixed_spans(text, size, overlap)
    elif settings.strategy == "markdown":
        spans = _markdown_spans(text, size, overlap)
    else:
        spans = _merge(text, _pieces(text, 0, len(text), size), size, overlap)
    return _trimmed(text, spans, max_chunks)


def _fixed_spans(text: str, size: int, overlap: int) -> Iterator[Span]:
    start, length = 0, len(text)
    while start < length:
        end = min(start + size, length)
        if end < length and not text[end].isspace() and not text[end - 1].isspace():
            floor = start + size // 2
            space = max(text.rfind(c, floor, end) for c in _WHITESPACE)
            if space > floor:
                end = space
        yield start, end
        if end == length:
            return
        start = max(end - overlap, start + 1)


def _trimmed(text: str, spans: Iterator[Span], max_chunks: int | None = None) -> list[Span]:
    """The spans without surrounding whitespace; blank ones, and ones inside the previous
    chunk (the tail of a fixed cut that the overlap already holds), dropped. A span that,
    trimmed, starts where the previous chunk starts holds all of it, and takes its place (an
    overlap that reached back over the previous chunk's leading whitespace)."""
    result: list[Span] = []
    last_end = 0
    for start, end in spans:
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start < end and (not result or end > last_end):
            if result and start <= result[-1][0]:
                result[-1] = (start, end)
            else:
                result.append((start, end))
                if max_chunks is not None and len(result) > max_chunks:
                    raise TooManyChunks(max_chunks)
            last_end = end
    return result


def _pieces(text: str, start: int, end: int, size: int, level: int = 0) -> Iterator[Span]:
    """``text[start:end]`` cut at the largest unit that leaves no piece above ``size``:
    paragraphs, then lines, sentences, words, characters (each level only where needed)."""
    if end - start <= size:
        yield start, end
        return
    if level == len(_SEPARATORS):
        yield from _word_pieces(text, start, end, size)
        return
    cut = start
    for match in _SEPARATORS[level].finditer(text, start, end):
        if match.end() >= end:
            break
        yield from _pieces(text, cut, match.end(), size, level + 1)
        cut = match.end()
    yield from _pieces(text, cut, end, size, level + 1)


def _word_pieces(text: str, start: int, end: int, size: int) -> Iterator[Span]:
    """A sentence longer than ``size`` in runs of words of about ``size / 8`` characters
    (small enough for the merge to fill a chunk with them, few enough to stay fast); a word
    longer than ``size`` is cut at ``size`` characters."""
    step = max(1, size // _WORD_RUNS_PER_CHUNK)
    while end - start > step:
        space = max(text.rfind(char, start + 1, start + step) for char in _WHITESPACE)
        if space < 0:
            following = [at for at in (text.find(char, start + step, start + size) for char in _WHITESPACE) if at >= 0]
            space = min(following) if following else -1
        cut = space + 1 if space > start else start + size
        if cut >= end:
            break
        yield start, cut
        start = cut
    yield start, end


def _merge(text: str, pieces: Iterator[Span], size: int, overlap: int) -> Iterator[Span]:
    """Neighbouring pieces joined while the chunk stays within ``size``; each chunk after the
    first starts up to ``overlap`` characters back, at a word."""
    chunk_start: int | None = None
    chunk_end = 0
    for start, end in pieces:
        if chunk_start is None:
            chunk_start, chunk_end = start, end
        elif end - chunk_start <= size:
            chunk_end = end
        else:
            yield chunk_start, chunk_end
            chunk_start = _overlap_start(text, chunk_end, overlap, earliest=end - size)
            chunk_end = end
    if chunk_start is not None:
        yield chunk_start, chunk_end


def _overlap_start(text: str, boundary: int, overlap: int, *, earliest: int) -> int:
    """Where a chunk starting at ``boundary`` begins when it repeats up to ``overlap``
    characters before it: the first word start in that stretch (the stretch's first
    character when it holds no word start), never before ``earliest`` (the chunk's size)."""
    start = max(boundary - overlap, earliest)
    if start >= boundary:
        return boundary
    if start == 0 or (text[start - 1] in _WHITESPACE and text[start] not in _WHITESPACE):
        return start
    match = _WORD_START.search(text, start, boundary)
    return match.end() if match else start


def _markdown_spans(text: str, size: int, overlap: int) -> Iterator[Span]:
    """Whole sections joined while they fit; a section above ``size`` cut on its own."""
    group_start: int | None = None
    group_end = 0
    for start, end in _sections(text):
        if group_start is not None and end - group_start <= size:
            group_end = end
            continue
        if group_start is not None:
            yield group_start, group_end
            group_start = None
        if end - start <= size:
            group_start, group_end = start, end
        else:
            yield from _merge(text, _pieces(text, start, end, size), size, overlap)
    if group_start is not None:
        yield group_start, group_end


def _sections(text: str) -> Iterator[Span]:
    """The text cut before each ATX heading that is not inside a fenced code block."""
    start = 0
    fence: str | None = None
    for match in _HEADING_OR_FENCE.finditer(text):
        marker = match.group(2)
        if marker is not None:
            if fence is None:
                fence = marker
            elif marker[0] == fence[0] and len(marker) >= len(fence):
                fence = None
        elif fence is None and match.start() > start:
            yield start, match.start()
            start = match.start()
    yield start, len(text)
