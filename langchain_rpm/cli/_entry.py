"""The ``rpm`` command's entry point: a Ctrl-C while the command is still loading ends like one during it.

Both ways in, the ``rpm`` console script and ``python -m langchain_rpm.cli``, call :func:`main` here, which
imports the command line (:mod:`langchain_rpm.cli._main`, the standard library and a few of our modules) inside
its guard: an interrupted load prints the one line ``error: interrupted`` and returns 130, as
:func:`langchain_rpm.cli._main.main` does once it runs.

Example:
    >>> main(["--version"])  # doctest: +SKIP
    rpm (langchain-rpm) 0.2.0
    0
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Load the command line and run ``argv`` (default: the process's arguments); returns the exit status."""
    try:
        from langchain_rpm.cli._main import main as run_command
    except KeyboardInterrupt:
        from langchain_rpm.cli._exits import INTERRUPTED, report

        report("interrupted", INTERRUPTED, as_json="--json" in (sys.argv[1:] if argv is None else argv))
        return INTERRUPTED
    return run_command(argv)
