r"""Text from users, files and models, made safe to print: one line, and no character a terminal acts on.

Example:
    >>> literal("ada\x1b[2J")
    'ada\\x1b[2J'
    >>> one_line("two\n  lines")
    'two lines'
"""

from __future__ import annotations


def literal(text: object, *, newlines: bool = False) -> str:
    r"""``text`` with every character a terminal could act on written as an escape (``\x1b``, ``\u202e``).

    Args:
        text: Any text from a user, a file or a model.
        newlines: Keep line breaks and tabs (multi-line model text); otherwise they are escaped too.
    """
    keep = "\n\t" if newlines else ""
    return "".join(char if char.isprintable() or char in keep else repr(char)[1:-1] for char in str(text))


def quoted(text: object) -> str:
    """``'text'``, literal (for ids in messages)."""
    return "'" + literal(text) + "'"


def one_line(text: object, limit: int = 500) -> str:
    """``text`` on one line (whitespace runs collapsed), literal, cut to ``limit`` characters."""
    flat = literal(" ".join(str(text).split()))
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
