"""Chunking: every strategy keeps chunks within size, covers the text and honours the overlap."""

from __future__ import annotations

import random
import time

import pytest
from agentos_runtime.config.knowledge import ChunkingSettings
from agentos_runtime.knowledge.chunking import TooManyChunks, chunk_spans, chunk_text
from hypothesis import example, given, settings
from hypothesis import strategies as st

STRATEGIES = ("fixed", "recursive", "markdown")
PROPERTY_RUNS = settings(max_examples=150, deadline=None, database=None)

# Text made of the things chunkers trip on: runs of words with no break (longer than a chunk),
# sentence ends, line and paragraph breaks, headings, code fences, words longer than a chunk,
# tabs, non-Latin scripts and Unicode spaces.
_TOKENS = st.sampled_from(
    ["word ", "alpha ", "beta ", "lorem ipsum dolor sit amet ", "Gamma.", "end! ", "why? ", " ", "\n", "\n\n",
     "\n\n\n", "\t", "# Title\n", "## Sub\n", "```\n", "~~~\n", "x" * 70, "y" * 260, "日本語。", "é",
     "  ", "\u00a0", "\u3000"]
)  # fmt: skip
TEXTS = st.lists(_TOKENS, max_size=120).map("".join)
SETTINGS = st.builds(
    lambda strategy, size, share: ChunkingSettings(strategy=strategy, size=size, overlap=int(size * share)),
    st.sampled_from(STRATEGIES),
    st.integers(min_value=50, max_value=250),
    st.sampled_from([0.0, 0.1, 0.3, 0.9]),
)


def covered_outside_whitespace(text: str, spans: list[tuple[int, int]]) -> bool:
    position = 0
    for start, end in spans:
        if text[position:start].strip():
            return False
        position = max(position, end)
    return not text[position:].strip()


@PROPERTY_RUNS
@given(text=TEXTS, chunking=SETTINGS)
def test_every_chunk_is_a_trimmed_slice_of_the_text_within_size(text: str, chunking: ChunkingSettings) -> None:
    spans = chunk_spans(text, chunking)

    assert chunk_text(text, chunking) == [text[start:end] for start, end in spans]
    for start, end in spans:
        chunk = text[start:end]
        assert 0 < len(chunk) <= chunking.size
        assert chunk == chunk.strip()


@PROPERTY_RUNS
@given(text=TEXTS, chunking=SETTINGS)
# An overlap reaching back over the first chunk's leading space to where it starts.
@example(text=" word" * 10 + " ", chunking=ChunkingSettings(strategy="recursive", size=50, overlap=45))
def test_chunks_run_in_order_and_leave_out_only_whitespace(text: str, chunking: ChunkingSettings) -> None:
    spans = chunk_spans(text, chunking)

    assert covered_outside_whitespace(text, spans)
    assert all(
        later[0] > earlier[0] and later[1] > earlier[1] for earlier, later in zip(spans, spans[1:], strict=False)
    )


@PROPERTY_RUNS
@given(text=TEXTS, chunking=SETTINGS)
def test_a_chunk_repeats_at_most_overlap_characters_of_the_one_before(text: str, chunking: ChunkingSettings) -> None:
    spans = chunk_spans(text, chunking)

    for (_, previous_end), (start, _) in zip(spans, spans[1:], strict=False):
        assert previous_end - start <= chunking.overlap


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_blank_text_has_no_chunks(strategy: str) -> None:
    assert chunk_text(" \n\n\t ", ChunkingSettings(strategy=strategy, size=50)) == []


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_text_within_size_is_one_chunk(strategy: str) -> None:
    assert chunk_text("\n  A short note.\n", ChunkingSettings(strategy=strategy, size=50)) == ["A short note."]


def test_fixed_cuts_every_size_minus_overlap_characters() -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(250))

    chunks = chunk_text(text, ChunkingSettings(strategy="fixed", size=100, overlap=20))

    assert chunks == [text[0:100], text[80:180], text[160:250]]


def test_fixed_moves_a_cut_that_falls_inside_a_word_back_to_the_space_before_it() -> None:
    text = " ".join(f"word{i:03d}" for i in range(60))  # words of 7 characters and a space

    chunks = chunk_text(text, ChunkingSettings(strategy="fixed", size=100, overlap=0))

    assert all(len(chunk) <= 100 for chunk in chunks)
    assert " ".join(chunks) == text and all(word.startswith("word") for c in chunks for word in c.split())
    assert [len(chunk) for chunk in chunks[:-1]] == [95] * (len(chunks) - 1)


def test_recursive_cuts_between_paragraphs_before_lines_or_sentences() -> None:
    first = "The first paragraph. It has two sentences."
    second = "The second one.\nIt spans two lines."
    text = f"{first}\n\n{second}"

    chunks = chunk_text(text, ChunkingSettings(strategy="recursive", size=60))

    assert chunks == [first, second]


def test_recursive_cuts_a_long_paragraph_at_sentence_ends() -> None:
    sentences = [f"Sentence number {n} says something short." for n in range(6)]

    chunks = chunk_text(" ".join(sentences), ChunkingSettings(strategy="recursive", size=100))

    assert chunks == [" ".join(sentences[i : i + 2]) for i in range(0, 6, 2)]


def test_recursive_joins_small_paragraphs_while_they_fit() -> None:
    text = "One.\n\nTwo.\n\nThree.\n\nFour."

    assert chunk_text(text, ChunkingSettings(strategy="recursive", size=50)) == [text]


def test_recursive_cuts_a_word_longer_than_size_and_keeps_the_others_whole() -> None:
    text = "short " + "y" * 120 + " tail words"

    chunks = chunk_text(text, ChunkingSettings(strategy="recursive", size=50))

    assert "".join(chunks).replace(" ", "") == text.replace(" ", "")
    assert chunks[-1].endswith("tail words")
    assert all(len(chunk) <= 50 for chunk in chunks)


def test_recursive_overlap_starts_at_a_word_and_repeats_the_previous_tail() -> None:
    words = [f"w{n:03d}" for n in range(200)]
    text = " ".join(words)

    chunks = chunk_text(text, ChunkingSettings(strategy="recursive", size=100, overlap=30))

    assert len(chunks) > 5
    for previous, chunk in zip(chunks, chunks[1:], strict=False):
        assert chunk.split(" ")[0] in words, "a chunk starts at a word"
        head = chunk.split(" ")
        repeated = max((" ".join(head[:n]) for n in range(1, 8) if previous.endswith(" ".join(head[:n]))), key=len)
        # Words of 4 characters and a space: the most of 30 characters that starts at a word.
        assert len(repeated) == 29, "a chunk starts with the last words of the one before"


def test_markdown_starts_a_chunk_at_each_heading_that_does_not_fit_with_the_one_before() -> None:
    intro = "# Guide\nWelcome to the guide."
    install = "## Install\n" + "Run the installer and follow the steps. " * 2
    usage = "## Usage\nStart it."
    text = f"{intro}\n\n{install.strip()}\n\n{usage}"

    chunks = chunk_text(text, ChunkingSettings(strategy="markdown", size=120))

    assert chunks == [intro, install.strip() + "\n\n" + usage]


def test_markdown_never_cuts_at_a_heading_inside_fenced_code() -> None:
    code = "```\n# a shell comment, not a heading\necho hi\n```"
    text = f"## Script\n{code}\n\n## Next\nMore text here for the next part."

    chunks = chunk_text(text, ChunkingSettings(strategy="markdown", size=70))

    assert chunks == [f"## Script\n{code}", "## Next\nMore text here for the next part."]


def test_markdown_cuts_a_long_section_recursively_with_overlap_inside_it() -> None:
    body = " ".join(f"point{n}" for n in range(60))
    text = f"# Long\n{body}\n\n# Short\nDone."

    chunks = chunk_text(text, ChunkingSettings(strategy="markdown", size=100, overlap=20))

    assert chunks[0].startswith("# Long\n")
    assert chunks[-1] == "# Short\nDone."
    long_chunks = chunks[:-1]
    assert len(long_chunks) > 3
    for previous, chunk in zip(long_chunks, long_chunks[1:], strict=False):
        assert chunk.split()[0] in previous.split(), "each piece of the long section repeats a word of the one before"


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_chunking_stops_as_soon_as_the_text_would_make_more_chunks_than_allowed(strategy: str) -> None:
    # 50 characters repeating 49: a chunk per character, a million of them, unless stopped.
    chunking = ChunkingSettings(strategy=strategy, size=50, overlap=49)
    text = "ab " * 333_333

    started = time.process_time()
    with pytest.raises(TooManyChunks) as refused:
        chunk_spans(text, chunking, max_chunks=1_000)
    elapsed = time.process_time() - started

    assert refused.value.limit == 1_000
    assert elapsed < 1.0  # the work of about a thousand chunks, not of all of them


def test_a_text_of_exactly_the_allowed_chunks_is_chunked_in_full() -> None:
    chunking = ChunkingSettings(strategy="fixed", size=50, overlap=0)
    text = " ".join(["x" * 49] * 20)

    assert len(chunk_spans(text, chunking, max_chunks=20)) == 20
    with pytest.raises(TooManyChunks):
        chunk_spans(text, chunking, max_chunks=19)


@pytest.fixture(scope="module")
def ten_megabytes() -> str:
    generator = random.Random(7)
    words = generator.choices(["alpha", "beta", "gamma", "delta", "epsilon"], k=1_500_000)
    breaks = generator.choices([" ", " ", " ", ". ", "\n", "\n\n", "\n## Heading\n"], k=1_500_000)
    return "".join(word + gap for word, gap in zip(words, breaks, strict=True))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_ten_megabytes_of_text_are_chunked_in_linear_time(strategy: str, ten_megabytes: str) -> None:
    assert len(ten_megabytes) > 10_000_000
    chunking = ChunkingSettings(strategy=strategy, size=1000, overlap=100)

    started = time.process_time()
    spans = chunk_spans(ten_megabytes, chunking)
    elapsed = time.process_time() - started

    assert len(spans) > 10_000_000 // 1000
    # About 0.5 s on one busy core here; quadratic string building would take minutes.
    assert elapsed < 10.0
