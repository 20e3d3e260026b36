"""The ``rpm`` command line (needs the ``cli`` extra: rich, langgraph-checkpoint-sqlite).

Example:
    >>> from langchain_rpm.cli import build_parser
    >>> build_parser().parse_args(["users"]).command
    'users'
"""

from langchain_rpm.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
