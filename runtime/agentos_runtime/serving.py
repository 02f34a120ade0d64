"""Run the AgentOS runtime server. Not implemented yet."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


def run(args: argparse.Namespace) -> int:
    del args
    sys.stderr.write("agentos serve: not implemented yet\n")
    return 2
