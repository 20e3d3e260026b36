"""Caches of this process keyed by text of users' data, emptied whenever a user is forgotten (private).

A few caches are keyed by text derived from a user's data rather than by the user: the output schemas that
name a user's factors or a question's options, the structured callers built on them, the compiled patterns
of an answer (the leak check). They cannot tell one user's entries from another's, so
:func:`langchain_rpm.privacy.forget_user` empties them all; they refill on use, at the cost of building a
schema, a caller or a pattern again. A module registers its cache's ``clear`` at import
(:func:`empty_on_forget`); an object holding a cache registers itself (:func:`hold`, kept weakly): its
``empty_caches(user_id)`` drops what may hold the forgotten user's text (a cache keyed by text alone: all of
it). An object holding what it derived from one user's reads (the agent middleware's blocks) registers with
:func:`follow` instead: a forget calls it too, and so does :func:`drop_user`, which a write that keeps the
user's profile (examples alone, an import) calls, since the profile's revision does not move then; the caches
keyed by text alone are not emptied by such a write.

Example:
    >>> from functools import lru_cache
    >>> @lru_cache
    ... def shout(text):
    ...     return text.upper()
    >>> empty_on_forget(shout.cache_clear)
    >>> shout("ada's answer"), shout.cache_info().currsize
    ("ADA'S ANSWER", 1)
    >>> empty_all("ada")
    >>> shout.cache_info().currsize
    0
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from functools import partial
from typing import Protocol


class Holder(Protocol):
    """An object holding a cache keyed by text of users' data."""

    def empty_caches(self, user_id: str) -> None:
        """Drop every entry that may hold text of ``user_id``'s data (the object stays usable)."""


_CLEARS: list[Callable[[], None]] = []
_HOLDERS: weakref.WeakSet[Holder] = weakref.WeakSet()
_FOLLOWERS: weakref.WeakSet[Holder] = weakref.WeakSet()
_LOCK = threading.Lock()


def empty_on_forget(clear: Callable[[], None]) -> None:
    """Call ``clear`` (a module-level cache's, such as ``lru_cache``'s ``cache_clear``) at every forget."""
    with _LOCK:
        _CLEARS.append(clear)


def hold(holder: Holder) -> None:
    """Call ``holder.empty_caches(user_id)`` at every forget while ``holder`` lives (not kept alive by this)."""
    with _LOCK:
        _HOLDERS.add(holder)


def follow(follower: Holder) -> None:
    """Call ``follower.empty_caches(user_id)`` at every forget and every :func:`drop_user` while it lives."""
    with _LOCK:
        _FOLLOWERS.add(follower)


def drop_user(user_id: str) -> None:
    """Call every follower's ``empty_caches(user_id)`` (all, even if one fails): the user's data changed."""
    with _LOCK:
        followers = list(_FOLLOWERS)
    _each([partial(follower.empty_caches, user_id) for follower in followers])


def empty_all(user_id: str) -> None:
    """Empty every registered cache of what may hold text of ``user_id``'s data (a forget, a removal)."""
    with _LOCK:
        clears, holders = list(_CLEARS), list(_HOLDERS)
    _each([*clears, *(partial(holder.empty_caches, user_id) for holder in holders), partial(drop_user, user_id)])


def _each(calls: list[Callable[[], None]]) -> None:
    """Run every call; raise the first failure after the others ran."""
    failures: list[Exception] = []
    for call in calls:
        try:
            call()
        except Exception as exc:  # the others still run
            failures.append(exc)
    if failures:
        raise failures[0]
