"""One module per resource (``agents``, ``agent_runs``, ``sessions``...), its views in ``*_schemas``."""
