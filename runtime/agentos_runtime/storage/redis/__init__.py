"""The Redis backend: Agno's key layout (one JSON string per record, index SETs), via ``redis.asyncio``."""
