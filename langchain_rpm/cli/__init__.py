"""The ``rpm`` command line (needs the ``cli`` extra: rich, langgraph-checkpoint-sqlite).

Importing this package loads nothing but its entry point (:mod:`~langchain_rpm.cli._entry`), so a Ctrl-C
while the command loads is caught there; ``build_parser`` loads on first use, and the commands load what
they need.

Example:
    >>> from langchain_rpm.cli import build_parser
    >>> build_parser(with_eval=False).parse_args(["users", "--json"]).json
    True
"""

from typing import TYPE_CHECKING, Any

from langchain_rpm.cli._entry import main

if TYPE_CHECKING:
    from langchain_rpm.cli._parser import build_parser

__all__ = ["build_parser", "main"]


def __getattr__(name: str) -> Any:
    """``build_parser``, imported when first asked for."""
    if name == "build_parser":
        from langchain_rpm.cli._parser import build_parser

        return build_parser
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
