"""The ``rpm`` entry point: parse, check the extras, run one command, and turn every failure into one line.

Run ``rpm --help`` or ``rpm COMMAND --help``. Output goes to stdout (JSON with ``--json``); the line
naming the model, progress, notes, warnings and errors go to stderr. Exit codes are listed in
:mod:`langchain_rpm.cli._exits` (0 ok, 2 bad input or configuration, 3 an answer that does not fit
the task, 130 interrupted). This module imports only the standard library until a command runs,
so a missing ``cli`` extra is reported as one line with the pip command.

Example:
    >>> main(["--version"])  # doctest: +SKIP
    rpm (langchain-rpm) 0.2.0
    0
"""

from __future__ import annotations

import logging
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from langchain_rpm.cli._exits import BAD_INPUT, INTERRUPTED, report, report_exception

CLI_EXTRA = "rpm needs the cli extra (rich, langgraph-checkpoint-sqlite): pip install 'langchain-rpm[cli]'"
EVAL_EXTRA = "rpm eval needs the eval extra: pip install 'langchain-rpm[eval]'"


class _OneLineWarnings(logging.Handler):
    """Library warnings (``langchain_rpm`` logger) as ``warning: ...`` lines on stderr."""

    def __init__(self, as_json: bool) -> None:
        super().__init__(logging.WARNING)
        self.as_json = as_json

    def emit(self, record: logging.LogRecord) -> None:
        report(record.getMessage(), 0, as_json=self.as_json, kind="warning")


def _one_line_warning(message: Any, category: type[Warning], *_args: Any, **_kwargs: Any) -> None:
    """``warnings.showwarning`` without the Python source line."""
    sys.stderr.write(f"warning: {category.__name__}: {' '.join(str(message).split())}\n")


def _quiet_after_interrupt() -> None:
    """After Ctrl-C, noise from work abandoned mid-flight (a closed event loop seen by a worker thread)."""
    original: Callable[[threading.ExceptHookArgs], Any] = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if isinstance(args.exc_value, RuntimeError) and "Event loop is closed" in str(args.exc_value):
            return
        original(args)

    threading.excepthook = hook
    warnings.filterwarnings("ignore", message=r"coroutine .* was never awaited", category=RuntimeWarning)

    def unraisable(info: Any) -> None:
        return None

    sys.unraisablehook = unraisable


def _require_extras() -> str | None:
    """The line to print when an extra the command needs is missing, else ``None``."""
    try:
        import langgraph.checkpoint.sqlite  # noqa: F401
        import rich  # noqa: F401
    except ImportError:
        return CLI_EXTRA
    return None


def _refresh(args: Any, out: Any) -> int:
    from langchain_rpm.cli._drift_view import refresh

    return refresh(args, out)


def _dispatch(args: Any, as_json: bool) -> int:
    from langchain_rpm.cli import _commands as commands
    from langchain_rpm.cli import _demo as demo
    from langchain_rpm.cli import _offline as offline
    from langchain_rpm.cli._output import Output

    out = Output(json=as_json)
    handlers: dict[str, Callable[[Any, Output], int]] = {
        "users": offline.users,
        "inspect": offline.inspect,
        "forget": offline.forget,
        "export": offline.export,
        "import": offline.import_,
        "build": commands.build,
        "add": commands.build,
        "ask": commands.ask,
        "demo": demo.demo,
        "refresh": _refresh,
    }
    if args.command == "eval":
        return commands.evaluate(args)
    return handlers[args.command](args, out)


def _run(argv: list[str]) -> int:
    as_json = "--json" in argv
    from langchain_rpm.cli._interrupts import kept_interrupts
    from langchain_rpm.cli._local_llm import install_signal_handlers
    from langchain_rpm.cli._parser import build_parser

    install_signal_handlers()
    try:
        parser = build_parser(with_eval="eval" in argv)
    except ImportError:
        report(EVAL_EXTRA, BAD_INPUT, as_json=as_json)
        return BAD_INPUT
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help, --version
        return int(done.code or 0)
    except Exception as exc:
        return report_exception(exc, as_json=as_json)
    as_json = bool(getattr(args, "json", False))
    missing = _require_extras()
    if missing:
        report(missing, BAD_INPUT, as_json=as_json)
        return BAD_INPUT
    handler = _OneLineWarnings(as_json)
    library = logging.getLogger("langchain_rpm")
    library.addHandler(handler)
    library.propagate, propagate = False, library.propagate
    shown, warnings.showwarning = warnings.showwarning, _one_line_warning
    try:
        with kept_interrupts():
            return _dispatch(args, as_json)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        return report_exception(exc, as_json=as_json)
    finally:
        library.removeHandler(handler)
        library.propagate = propagate
        warnings.showwarning = shown


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``rpm``; returns the exit status (Ctrl-C: 130, with one line and no traceback)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        return _run(arguments)
    except KeyboardInterrupt:
        if argv is None:  # the real program, about to exit: in-process callers keep their hooks
            _quiet_after_interrupt()
        report("interrupted", INTERRUPTED, as_json="--json" in arguments)
        return INTERRUPTED
