"""A batched bulk build in its own process, to be killed by the resume test.

Usage: ``python -m tests.support.batch_worker BASE_URL STATE_FILE STORE_DIR USERS ITEMS``. It builds
:func:`batch_histories` through :class:`~langchain_rpm.batch.BatchBuilder` against the loopback
:class:`~tests.support.batch_server.BatchServer` at ``BASE_URL`` and prints the run's batch usage as JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from langchain_openai import ChatOpenAI

from langchain_rpm import RPM, RPMStore
from langchain_rpm.batch import BatchBuilder
from tests.support.crash_worker import history
from tests.support.rpm_fakes import CountingEmbeddings


def batch_histories(users: int, items: int) -> dict[str, list[dict[str, Any]]]:
    """``users`` deterministic histories of ``items`` items each, different for every user (so are their prompts)."""
    return {
        f"user-{u:02d}": [
            {**item, "input": f"{item['input']} (as told by reader {u})"} for item in history(items + u)[u:]
        ]
        for u in range(users)
    }


def batched_rpm(base_url: str, store_dir: Path, **settings: Any) -> RPM:
    """The facade the batch tests build with: ChatOpenAI against the loopback server, fake embeddings."""
    model = ChatOpenAI(model="fake", base_url=base_url, api_key="test", max_retries=0, timeout=10)
    return RPM(model, task="lamp2", store=RPMStore(store_dir, embeddings=CountingEmbeddings()), **settings)


def main(argv: list[str]) -> None:
    base_url, state, store_dir, users, items = argv
    builder = BatchBuilder(batched_rpm(base_url, Path(store_dir)), state, poll_interval=0.02, collect_window=0.3)
    results = builder.build_users(batch_histories(int(users), int(items)))
    failed = {user: str(result) for user, result in results.items() if isinstance(result, Exception)}
    print(json.dumps({"failed": failed, "usage": builder.usage.model_dump() if builder.usage else None}))


if __name__ == "__main__":
    main(sys.argv[1:])
