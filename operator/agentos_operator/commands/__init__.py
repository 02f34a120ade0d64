"""The offline subcommands of ``agentos``: validate, render, crd."""
