"""Regular expressions a config declares (a workflow condition's ``matches``), matched in linear time. Pure.

Python's ``re`` backtracks: a pattern such as ``^((a*)*)*[0-9]$`` takes exponential time on a
short text that does not match, and a match runs on the event loop, so one workflow step would
stall the whole server (health checks included) for as long as it takes. RE2 (``google-re2``)
matches in time linear in the text whatever the pattern; it has no backreferences and no
lookaround, the constructs that need backtracking, so a pattern using them is refused when the
config is checked, with the reason.
"""

from __future__ import annotations

import functools
from typing import Protocol

import re2

from agentos_runtime import storable

# The most characters a pattern may have; a condition is a test, not a grammar.
MAX_PATTERN_LENGTH = 4096


class Compiled(Protocol):
    def search(self, text: str) -> object | None: ...


class PatternError(ValueError):
    """A pattern RE2 cannot compile: the reason, in RE2's words."""


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # RE2 would print each refused pattern on stderr, beside our message
    return options


@functools.lru_cache(maxsize=256)
def compiled(pattern: str) -> Compiled:
    """``pattern`` compiled by RE2; ``PatternError`` saying why when it cannot be."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(f"a pattern may have at most {MAX_PATTERN_LENGTH} characters, got {len(pattern)}")
    try:
        found: Compiled = re2.compile(pattern, _options())
    except re2.error as error:
        reason = error.args[0].decode("utf-8", "replace") if error.args and isinstance(error.args[0], bytes) else error
        raise PatternError(
            f"not a regular expression RE2 accepts ({reason}): backreferences and lookaround are not"
            " supported, as they can take exponential time"
        ) from None
    return found


def search(pattern: str, text: str) -> bool:
    """Whether ``pattern`` matches anywhere in ``text``, in time linear in the text."""
    return compiled(pattern).search(storable.clean_text(text)) is not None
