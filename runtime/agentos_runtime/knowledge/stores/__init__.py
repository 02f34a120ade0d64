"""The knowledge stores: PostgreSQL with pgvector, and the embedded SQLite file with sqlite-vec.

Both implement ``knowledge.ports.KnowledgeStore`` and pass the same contract tests. On
PostgreSQL the tables are Agno's (``agno_knowledge`` for contents, a ``PgVector`` table per
base for chunks), so a base Agno filled is searchable here and the reverse. Every text written
is cleaned first (``checking``): NUL and lone surrogates become U+FFFD, as no database here can
hold them. ``open_knowledge_store`` (``opening``) picks the store for a base's database.
"""
