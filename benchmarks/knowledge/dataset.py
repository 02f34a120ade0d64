"""Deterministic synthetic documents and queries for the knowledge benchmark (standard library only).

Each document is ``chunks_per_document`` paragraphs of about ``chunk_chars`` characters, made of
words drawn from a pseudo-vocabulary: half from the document's own topic (40 words no other
document draws from), half from words common to all. A query is six topic words of one
document, so the document it came from is the one a search should find: ``relevant`` tells
whether a hit's content came from it (topic words carry the document's number; common words
have no digits). The same
seed gives the same documents and queries in any process (the Agno side runs in its own
virtualenv and imports this module too).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass

CHUNK_CHARS = 500
CHUNKS_PER_DOCUMENT = 20
TOPIC_WORDS = 40
COMMON_WORDS = 2000
QUERY_WORDS = 6
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Document:
    name: str
    text: str


@dataclass(frozen=True)
class Query:
    text: str
    document: str
    """Name of the document the query's words were taken from."""


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(_LETTERS) for _ in range(rng.randint(3, 9)))


def _common(seed: int) -> list[str]:
    rng = random.Random(f"common-{seed}")
    return [_word(rng) for _ in range(COMMON_WORDS)]


def _topic(seed: int, index: int) -> list[str]:
    rng = random.Random(f"topic-{seed}-{index}")
    return [f"t{index}x{_word(rng)}" for _ in range(TOPIC_WORDS)]


def document_name(index: int) -> str:
    return f"doc-{index:06d}"


def documents(
    count: int, *, seed: int = 7, chunks_per_document: int = CHUNKS_PER_DOCUMENT, chunk_chars: int = CHUNK_CHARS
) -> Iterator[Document]:
    """``count`` documents; ``count * chunks_per_document`` chunks when chunked at ``chunk_chars``.

    Paragraphs stay a little under ``chunk_chars`` (and end with a newline) so a fixed-size
    chunker at ``chunk_chars`` cuts about one chunk per paragraph on either side.
    """
    common = _common(seed)
    for index in range(count):
        rng = random.Random(f"document-{seed}-{index}")
        topic = _topic(seed, index)
        paragraphs = []
        for _ in range(chunks_per_document):
            words = [rng.choice(topic)]
            length = len(words[0])
            budget = chunk_chars - 12 - rng.randint(0, 20)
            while True:
                word = rng.choice(topic) if rng.random() < 0.5 else rng.choice(common)
                if length + 1 + len(word) > budget:
                    break
                words.append(word)
                length += 1 + len(word)
            paragraphs.append(" ".join(words) + ".")
        yield Document(document_name(index), "\n".join(paragraphs) + "\n")


def queries(count: int, *, documents_count: int, seed: int = 7) -> list[Query]:
    """``count`` queries, each six topic words of a document drawn at random among ``documents_count``."""
    rng = random.Random(f"queries-{seed}")
    chosen = []
    for _ in range(count):
        index = rng.randrange(documents_count)
        words = rng.sample(_topic(seed, index), QUERY_WORDS)
        chosen.append(Query(" ".join(words), document_name(index)))
    return chosen


def relevant(content: str, query: Query) -> bool:
    """Whether a hit's chunk came from the query's document: it holds one of the document's topic words."""
    index = int(query.document.removeprefix("doc-"))
    return re.search(rf"\bt{index}x[a-z]", content) is not None
