"""A server-side apply body is JSON the API server's YAML reader takes, whatever the strings hold."""

from __future__ import annotations

import json

import pytest
import yaml
from agentos_operator.kube.client import apply_patch_body

HOSTILE = [
    "Always end answers with \U0001f916",  # beyond U+FFFF: was sent as a surrogate-pair escape
    "caf\u00e9 \u20ac \u4e2d\u6587",
    "a\u0085b\u2028c\u2029d",  # YAML reads these as line breaks when raw
    "\u0080\u009f C1 controls",
    "\ufeffbyte-order mark \ufffe \uffff",
    "nul \x00 bell \x07 tab \t newline \n",
    'quotes " and \\ backslashes, and the text \\ud83e\\udd16',
    "",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_every_string_reads_back_the_same_as_json_and_as_yaml(text: str) -> None:
    payload = {"metadata": {"annotations": {"note": text}}, "data": {"config.yaml": text, text or "k": [text]}}

    body = apply_patch_body(payload)

    assert json.loads(body) == payload
    assert yaml.safe_load(body.decode("utf-8")) == payload


def test_a_character_beyond_the_basic_plane_is_sent_as_itself_never_as_a_surrogate_pair() -> None:
    body = apply_patch_body({"instructions": ["\U0001f916 \U0001f44b"]})

    assert "\U0001f916 \U0001f44b".encode() in body
    assert b"\\ud83e" not in body
    body.decode("utf-8")  # strictly UTF-8
