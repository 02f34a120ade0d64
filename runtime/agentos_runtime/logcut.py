"""Text cut to a length for the log, marked so that redaction still finds a secret the cut halved.

The log's formatters replace each known secret value (``observability.logs.Redactor``), whole.
A line cut before it is formatted (a server's stderr line, a tool's failure) can end in the first
part of a secret, which no whole-value replacement matches: ``redact_halves`` replaces such a
beginning, ended by ``CUT``, too.
"""

from __future__ import annotations

from collections.abc import Iterable

CUT = " [cut]"


def cut(text: str, limit: int) -> str:
    """``text``, or its first ``limit`` characters followed by ``CUT``."""
    return text if len(text) <= limit else text[:limit] + CUT


def redact_halves(text: str, secrets: Iterable[str], *, redacted: str, min_length: int) -> str:
    """``text`` with each beginning of one of ``secrets`` (``min_length`` characters or more)
    that ends where a ``cut`` ended it replaced by ``redacted``."""
    if CUT not in text:
        return text
    pieces = text.split(CUT)
    ordered = list(secrets)
    for index, piece in enumerate(pieces[:-1]):
        for secret in ordered:
            half = next(
                (k for k in range(len(secret) - 1, min_length - 1, -1) if piece.endswith(secret[:k])),
                None,
            )
            if half is not None:
                pieces[index] = piece[:-half] + redacted
                break
    return CUT.join(pieces)
