"""Runtime benchmark: our AgentOS runtime against Agno's, on one local zero-cost model server."""
