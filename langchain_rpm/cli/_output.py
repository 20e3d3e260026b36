"""Where a CLI command's results go (``Output``) and the stored profile a command needs.

Example:
    >>> Output(json=True).data({"ok": True})
    {
      "ok": true
    }
"""

from __future__ import annotations

import json
import sys
from typing import Any

from langchain_rpm.cli._session import StoreAccess
from langchain_rpm.cli._text import quoted
from langchain_rpm.cli.render import plain_console
from langchain_rpm.errors import UnknownUserError
from langchain_rpm.types import UserProfile


class Output:
    """Where a command's results go: JSON or plain text on stdout, always literal."""

    def __init__(self, *, json: bool) -> None:
        self.json = json
        self.console = plain_console()

    def data(self, value: Any) -> None:
        """Print ``value`` as JSON (``--json``); every non-ASCII or control character is escaped."""
        sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")
        sys.stdout.flush()

    def line(self, text: str) -> None:
        """Print one line of text as it is (the caller made user text literal)."""
        self.console.print(text, soft_wrap=True)


def stored_profile(access: StoreAccess, store: Any, user_id: str) -> UserProfile:
    """The stored profile of ``user_id``, or one line saying it is missing and how to list users."""
    profile = store.get_profile(user_id) if store is not None else None
    if profile is None:
        where = access.label if store is not None else f"{access.label}, which holds no store yet"
        raise UnknownUserError(f"no profile for user {quoted(user_id)} in {where}: list users with `rpm users`")
    return profile  # type: ignore[no-any-return]
