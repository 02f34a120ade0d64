"""The HTTP API: thin FastAPI routes speaking Agno's AgentOS wire format.

``assembly`` opens the ``RuntimeContext`` (databases, models, agents, runs) the routes serve;
``deps`` hands it to routes as ``Annotated`` dependencies; ``auth``, ``errors``,
``middleware`` and ``sse`` are the cross-cutting pieces; ``routes`` has one module per
resource with its views next to it. ``agentos_runtime.app.create_app`` puts it together.
"""
