"""Which charset labels text is read in: those naming one of Python's text codecs that encodes
characters as bytes, linearly. Pure.

Clients, web servers and documents declare charsets (a ``Content-Type``'s ``charset=``, an HTML
``<meta charset>``). Only labels Python's own codec modules answer to are looked up: the codec
search remembers every label it did not find, for good, so labels made up by whoever sends the
bytes would grow the process's memory one request at a time. Codecs that are no charset anyone
encodes text with are refused too: those that transform text (IDNA, escapes), fail on everything
(``undefined``), or take time growing with the square of the input (``punycode``, which IDNA
uses): a few hundred kilobytes declared so would hold a core for minutes.
"""

from __future__ import annotations

import codecs
import encodings
import encodings.aliases
import pkgutil

NOT_CHARSETS = frozenset({"idna", "punycode", "undefined", "unicode-escape", "raw-unicode-escape"})


def _codec_names() -> frozenset[str]:
    """Every name Python's own codec search answers to (its codec modules and their aliases)."""
    modules = {module.name for module in pkgutil.iter_modules(encodings.__path__)}
    return frozenset(modules | set(encodings.aliases.aliases) | set(encodings.aliases.aliases.values()))


CODEC_NAMES = _codec_names()


def named_codec(label: str) -> bool:
    """Whether ``label`` names one of ``CODEC_NAMES``, spelt as the codec search normalises it."""
    normalised = encodings.normalize_encoding(label.lower())
    return normalised in CODEC_NAMES or normalised.replace(".", "_") in CODEC_NAMES


def charset_codec(label: str) -> str | None:
    """The name of the codec text declared in charset ``label`` is read with; None when
    ``label`` is no charset read here (unknown, not a text encoding, or in ``NOT_CHARSETS``)."""
    label = label.strip()
    if not label or not named_codec(label):
        return None
    try:
        codec = codecs.lookup(label).name
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        return None
    try:
        b"-".decode(codec)  # a LookupError too for a codec that is no text encoding (base64, zlib)
    except LookupError:
        return None
    except UnicodeError:
        pass  # a text encoding that reads no single byte (utf-16, utf-32)
    return None if codec in NOT_CHARSETS else codec
