r"""Exit codes and error lines of the ``rpm`` command line.

Every failure is one line on stderr (``error: ...``, or a JSON object with ``--json``) that names
the problem and what to do; no traceback reaches the terminal. Exit codes:

- ``0``: done;
- ``2``: bad input or configuration (a data file, an option, the store, the model: nothing stored);
- ``3``: answered, but the model's answer does not fit the task (it is printed, marked invalid);
- ``130``: interrupted (Ctrl-C);
- ``1``: an unexpected internal error (a bug; ``RPM_DEBUG=1`` shows the traceback).

Example:
    >>> describe(FileNotFoundError(2, "No such file or directory", "rows.jsonl"))
    'rows.jsonl: no such file'
    >>> exit_code(KeyboardInterrupt())
    130
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from langchain_rpm.cli._text import one_line

OK = 0
INTERNAL = 1
BAD_INPUT = 2
INVALID_ANSWER = 3
INTERRUPTED = 130

EXIT_CODES_HELP = (
    "exit codes: 0 ok, 2 bad input or configuration (nothing stored), 3 answered but the answer does not "
    "fit the task, 130 interrupted, 1 internal error (a bug: RPM_DEBUG=1 shows the traceback)"
)
DEBUG_ENV = "RPM_DEBUG"

_MAX_CHARS = 500


class UsageError(Exception):
    """A command line that cannot be run as written (unknown option, bad value, conflicting flags)."""


class InvalidAnswer(Exception):
    """The model answered, but its answer does not fit the task (exit code 3)."""


def _model_hint(name: str, text: str) -> str:
    """What to do about a model failure, from its type name and message."""
    lowered = f"{name} {text}".lower()
    if "authentication" in lowered or "401" in lowered or "api key" in lowered:
        return "the API key was refused: check OPENAI_API_KEY (or the provider's key)"
    if "notfound" in lowered or "404" in lowered or "does not exist" in lowered:
        return "the endpoint does not serve this model: check --model and --base-url"
    if "ratelimit" in lowered or "429" in lowered:
        return "rate-limited: lower --concurrency or try again later"
    if "connection" in lowered or "connect" in lowered or "timeout" in lowered or "timed out" in lowered:
        return "cannot reach the model: is its server running? check --base-url (or the network)"
    if "no usable feature" in lowered:
        return "the model named no usable feature of these inputs (only non-words or the prompt's example): try a stronger --model"
    if "structuredoutput" in lowered or "no valid reply" in lowered or "validation error" in lowered:
        return (
            "the model's replies did not fit the expected schema after retries: try "
            "--structured-output function_calling (llama.cpp, vLLM) or a stronger --model"
        )
    return ""


def _is_model_error(exc: BaseException) -> bool:
    from langchain_rpm.errors import BuildFailedError, StructuredOutputError

    module = type(exc).__module__.split(".")[0]
    return isinstance(exc, StructuredOutputError | BuildFailedError) or module in {
        "openai",
        "httpx",
        "httpcore",
        "anthropic",
        "langchain_openai",
        "langchain_anthropic",
    }


def describe(exc: BaseException) -> str:
    """The one line that tells the user what went wrong and what to do."""
    if isinstance(exc, FileNotFoundError) and exc.filename and not _is_rpm_error(exc):
        return f"{exc.filename}: no such file"
    if isinstance(exc, PermissionError) and exc.filename:
        return f"{exc.filename}: permission denied; use a path you can write (or fix its permissions)"
    if isinstance(exc, OSError) and not _is_rpm_error(exc) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror.lower()}"
    text = one_line(str(exc) or type(exc).__name__)
    if _is_model_error(exc):
        hint = _model_hint(type(exc).__name__, text)
        prefix = "" if _is_rpm_error(exc) else f"the model call failed: {type(exc).__name__}: "
        return f"{prefix}{text}" + (f" — {hint}" if hint else "")
    return text


def _is_rpm_error(exc: BaseException) -> bool:
    from langchain_rpm.errors import RPMError

    return isinstance(exc, RPMError)


def exit_code(exc: BaseException) -> int:
    """The exit code for ``exc``."""
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED
    if isinstance(exc, InvalidAnswer):
        return INVALID_ANSWER
    if isinstance(exc, UsageError | OSError | ValueError | LookupError) or _is_rpm_error(exc) or _is_model_error(exc):
        return BAD_INPUT
    return INTERNAL


def report(message: str, code: int = BAD_INPUT, *, as_json: bool, kind: str = "error") -> None:
    """Write one line to stderr: ``KIND: message`` or, with ``--json``, a JSON object ``{KIND: message}``.

    Errors carry their exit code in JSON (``{"error": ..., "exit_code": 2}``); ``kind`` may also be
    ``warning``, ``note``, ``model`` or ``model server`` (a status line).
    """
    line = one_line(message, limit=4 * _MAX_CHARS)
    if as_json:
        payload: dict[str, Any] = {kind.replace(" ", "_"): line}
        if kind == "error":
            payload["exit_code"] = code
        sys.stderr.write(json.dumps(payload) + "\n")
    else:
        sys.stderr.write(f"{kind}: {line}\n")
    sys.stderr.flush()


def report_exception(exc: BaseException, *, as_json: bool) -> int:
    """Report ``exc`` as one line and return its exit code (the traceback too when ``RPM_DEBUG`` is set)."""
    code = exit_code(exc)
    if code == INTERRUPTED:
        report("interrupted", code, as_json=as_json)
        return code
    message = describe(exc)
    if code == INTERNAL:
        message = (
            f"internal error: {type(exc).__name__}: {message} (a bug: please report it; "
            f"{DEBUG_ENV}=1 shows the traceback)"
        )
    if os.environ.get(DEBUG_ENV):
        import traceback

        traceback.print_exception(exc)
    report(message, code, as_json=as_json)
    return code
