"""The knowledge benchmark: ingest throughput and search latency, ours beside Agno's."""
