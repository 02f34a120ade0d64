"""The AgentOS runtime: a FastAPI server speaking Agno's AgentOS HTTP API."""

__version__ = "0.1.0"
