"""``python -m agentos_operator``: run the operator (same as ``agentos operator``)."""

import sys

from agentos_operator.cli import main

sys.exit(main(["operator", *sys.argv[1:]]))
