"""Deterministic embeddings for tests and benchmarks: no model, same text → same vector.

A text's vector counts its words, each word hashed (BLAKE2, stable across processes) into one
of ``dimensions`` buckets, then scaled to length 1. Texts sharing words point in similar
directions, so a search for "vacation policy" finds the chunk about the vacation policy: enough
to test retrieval end to end without a model. The fake OpenAI server's ``/v1/embeddings`` and
Agno's side of the interoperability tests use the same function, so both sides agree.
"""

from __future__ import annotations

import hashlib
import math
import re

_WORD = re.compile(r"\w+", re.UNICODE)


def fake_embedding(text: str, dimensions: int) -> list[float]:
    """The vector of ``text``: hashed word counts, unit length (all zeros but one for no words)."""
    vector = [0.0] * dimensions
    for word in _WORD.findall(text.lower()):
        digest = hashlib.blake2b(word.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        vector[int.from_bytes(digest, "big") % dimensions] += 1.0
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0.0:
        vector[0] = 1.0
        return vector
    return [v / norm for v in vector]
