"""``python -m agentos_operator``: run the operator (same as ``agentos operator``; the word
``operator`` may be repeated after it, as the ``agentos`` command takes it)."""

import sys

from agentos_operator.cli import main

args = sys.argv[1:]
sys.exit(main(["operator", *(args[1:] if args[:1] == ["operator"] else args)]))
