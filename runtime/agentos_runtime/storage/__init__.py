"""Session and memory storage: one async port, backends for SQLite, PostgreSQL and Redis."""
