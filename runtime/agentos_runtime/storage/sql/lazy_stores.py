"""Stores built on first use: the SQLAlchemy side of a SQL database loads only when needed.

Memories, metrics, evals, session listings and edits are written with SQLAlchemy, which costs
about 0.2 s and 25 MB to load. A runtime that only runs agents never calls them, so a
``LazyStore`` stands in: the first method called builds the real store (loading SQLAlchemy
then, on the caller's request) and every call after goes straight to it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class LazyStore:
    """Forwards every attribute to the store ``build()`` returns, built once on first use."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._store: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._store is None:
            self._store = self._build()
        return getattr(self._store, name)
