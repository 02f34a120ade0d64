"""The HTTP API: thin FastAPI routes speaking Agno's AgentOS wire format."""
