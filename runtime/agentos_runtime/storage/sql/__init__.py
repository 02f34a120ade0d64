"""The SQL backend: one adapter (SQLAlchemy 2 async Core) for SQLite and PostgreSQL, in Agno's tables."""
