"""The ``rpm`` command line (needs the ``cli`` extra: rich, langgraph-checkpoint-sqlite).

Importing this package loads only the standard library; the commands load what they need.

Example:
    >>> from langchain_rpm.cli import build_parser
    >>> build_parser(with_eval=False).parse_args(["users", "--json"]).json
    True
"""

from langchain_rpm.cli._parser import build_parser
from langchain_rpm.cli.main import main

__all__ = ["build_parser", "main"]
