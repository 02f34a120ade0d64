"""Tools by name: built-ins and the ``agentos.tools`` entry-point group."""
