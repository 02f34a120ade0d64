"""The ``agentos`` command: one entry point for the runtime, the operator and the offline tools.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; modules import their heavy dependencies inside ``run`` so that
``agentos --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Protocol, cast

# (name, module, one-line help). Order is the order of `agentos --help`.
SUBCOMMANDS: tuple[tuple[str, str, str], ...] = (
    ("serve", "agentos_runtime.serving", "run the AgentOS runtime server from a config file"),
    ("operator", "agentos_operator.running", "run the Kubernetes operator"),
    ("validate", "agentos_operator.commands.validate", "check AgentOSConfig resources and runtime configs offline"),
    ("render", "agentos_operator.commands.render", "print the manifests an AgentOSConfig becomes"),
    ("crd", "agentos_operator.commands.crd", "print the AgentOSConfig CustomResourceDefinition"),
)


class Subcommand(Protocol):
    __doc__: str | None

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...
    def run(self, args: argparse.Namespace) -> int: ...


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand, or of ``only`` (when it names one) and no other.

    Parsing a known subcommand imports just its module: ``agentos serve`` starts without the
    operator's modules, which keeps them off the runtime's cold start.
    """
    parser = argparse.ArgumentParser(
        prog="agentos",
        description="kube-agentos: run AgentOS agent servers on Kubernetes, or on their own.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = [entry for entry in SUBCOMMANDS if entry[0] == only] or SUBCOMMANDS
    for name, module_name, summary in chosen:
        module = cast(Subcommand, importlib.import_module(module_name))
        sub = subparsers.add_parser(
            name,
            help=summary,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(_module=module)
    return parser


# Commands that print their result: a failure to print it (a closed pipe, a full disk) is said
# in one line, not a traceback. The servers write only logs, to stderr.
PRINTING = frozenset({"validate", "render", "crd"})


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(arguments[0] if arguments else None)
    args = parser.parse_args(arguments)
    module = cast(Subcommand, args._module)
    if args.command not in PRINTING:
        return module.run(args)
    if sys.stdout is None:  # started with its standard output closed (`agentos crd >&-`)
        sys.stderr.write(f"agentos {args.command}: standard output is closed: nothing to print to\n")
        return 2
    try:
        code = module.run(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as other command-line tools do, and keep
        # the interpreter from failing again on its own flush at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as error:
        sys.stderr.write(f"agentos {args.command}: cannot write the output: {error.strerror or error}\n")
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
