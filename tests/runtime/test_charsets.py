"""Which declared charsets text is read in: Python's text codecs, spelt any way Python spells
them, but none that is no charset (IDNA, escapes) or decodes in quadratic time (punycode), and
no label that is not one of Python's own, which the codec search would remember for good."""

from __future__ import annotations

import encodings

import pytest
from agentos_runtime.charsets import charset_codec


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("utf-8", "utf-8"),
        ("UTF8", "utf-8"),
        (" latin-1 ", "iso8859-1"),
        ("ISO-8859-15", "iso8859-15"),
        ("windows-1252", "cp1252"),
        ("Shift_JIS", "shift_jis"),
        ("utf-16", "utf-16"),
    ],
)
def test_a_charset_is_read_with_the_codec_python_gives_it(label: str, codec: str) -> None:
    assert charset_codec(label) == codec


@pytest.mark.parametrize(
    "label", ["punycode", "idna", "undefined", "unicode_escape", "raw-unicode-escape", "base64", "zlib", "rot13", ""]
)
def test_codecs_that_are_no_charset_are_refused(label: str) -> None:
    assert charset_codec(label) is None


def test_made_up_labels_are_refused_without_being_looked_up() -> None:
    before = set(encodings._cache)  # type: ignore[attr-defined]

    refused = [charset_codec(f"x-made-up-{n}") for n in range(100)] + [charset_codec("utf-8\x00")]

    assert refused == [None] * 101
    assert set(encodings._cache) == before  # type: ignore[attr-defined]
