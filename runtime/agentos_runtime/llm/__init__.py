"""Chat models: the port the run loop depends on, and the OpenAI-compatible adapter."""
