"""A group commit in its own process, killed (SIGKILL) right before its Nth Chroma write, for crash tests.

Usage: ``python -m tests.support.group_crash_worker STORE_DIR MARKER [KILL_AT]``: rewrites every user of
:data:`USERS` with examples marked ``MARKER`` in one group commit (max batch size 4, so staging, switching
and deleting each take several Chroma calls); with ``KILL_AT`` the process kills itself before its
``KILL_AT``-th ``add``/``upsert``/``delete`` (1-based). Without users stored yet, it stores them one by one.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from chromadb.api.models.Collection import Collection

from langchain_rpm._plans import run
from langchain_rpm.store import RPMStore
from langchain_rpm.store._writes import UserWrite, write_many_plan
from langchain_rpm.types import Feature, ReasoningExample, UserProfile
from tests.support.rpm_fakes import CountingEmbeddings

USERS = [f"user-{i}" for i in range(6)]


def examples(user: str, marker: str) -> list[ReasoningExample]:
    """Two examples of ``user``, their text marked with the version ``marker``."""
    return [
        ReasoningExample(
            item_id=str(i), input=f"{user} {marker} {i}", features=[Feature(name=f"f{i}")], reasoning=marker, answer="a"
        )
        for i in range(2)
    ]


def profile_of(user: str, marker: str) -> Any:
    return lambda every, previous: UserProfile(
        user_id=user, task="lamp2", factors=[], num_items=len(every), num_features=0, model=marker
    )


def kill_before(n: int) -> None:
    """SIGKILL this process right before its ``n``-th Chroma write."""
    seen = [0]
    for name in ("add", "upsert", "delete"):
        original = getattr(Collection, name)

        def write(self: Collection, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            seen[0] += 1
            if seen[0] == n:
                os.kill(os.getpid(), signal.SIGKILL)
            return _original(self, *args, **kwargs)

        setattr(Collection, name, write)


def main(folder: Path, marker: str, kill_at: int | None) -> None:
    store = RPMStore(folder, embeddings=CountingEmbeddings())
    store.backend.max_batch = 4
    if not store.list_users():
        for user in USERS:
            run(write_many_plan(store, [UserWrite(user, examples(user, marker), profile_of(user, marker))]))
        return
    if kill_at is not None:
        kill_before(kill_at)
    run(write_many_plan(store, [UserWrite(u, examples(u, marker), profile_of(u, marker)) for u in USERS]))
    print("committed", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else None)
