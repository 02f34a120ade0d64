"""The rules of a label's key and value (Kubernetes' validation), said as the fix. Pure."""

from __future__ import annotations

import re

# A label's name part, and a DNS subdomain for its optional prefix (Kubernetes' validation).
_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
LABEL_NAME_MAX_LENGTH = 63
LABEL_PREFIX_MAX_LENGTH = 253


def label_key_problem(key: str) -> str:
    """Pure: why ``key`` is no label key (``[prefix/]name``), or "" when it is one."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > LABEL_PREFIX_MAX_LENGTH or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        return (
            f"{key[:100]!r} is not a valid label key: its prefix before '/' must be a DNS subdomain"
            " (lowercase letters, digits, '-' and '.')"
        )
    if len(name) > LABEL_NAME_MAX_LENGTH or not _LABEL_NAME.fullmatch(name):
        return (
            f"{key[:100]!r} is not a valid label key: letters, digits, '-', '_' and '.', starting and ending"
            f" with a letter or digit, at most {LABEL_NAME_MAX_LENGTH} characters (after an optional prefix/)"
        )
    return ""


def label_value_problem(value: str) -> str:
    """Pure: why ``value`` is no label value, or "" when it is one (empty is one)."""
    if value == "" or (len(value) <= LABEL_NAME_MAX_LENGTH and _LABEL_NAME.fullmatch(value)):
        return ""
    return (
        f"{value[:100]!r} is not a valid label value: letters, digits, '-', '_' and '.', starting and ending"
        f" with a letter or digit, at most {LABEL_NAME_MAX_LENGTH} characters"
    )
