"""A profile build in its own process, to be killed at random points by crash-safety tests.

Usage: ``python -m tests.support.crash_worker STORE_DIR CHECKPOINT_DB N_ITEMS [DELAY]``. The model is the
deterministic fake (with a per-call delay so a kill can land anywhere) behind the package's SQLite LLM cache,
as ``rpm build`` runs it; every paid (uncached) LLM call appends a line to ``STORE_DIR/calls.log`` so tests
can count what was paid for across restarts.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from langchain_rpm import RPM, RPMStore
from langchain_rpm.cli._cache import SQLiteCache
from langchain_rpm.testing import FakeStructuredChatModel
from tests.support.rpm_fakes import CountingEmbeddings, rpm_responder

WORDS = ["robot", "space", "wedding", "love", "chase", "fight", "alien", "kiss", "explosion"]
LABELS = {
    "robot": "sci-fi",
    "space": "sci-fi",
    "alien": "sci-fi",
    "wedding": "romance",
    "love": "romance",
    "kiss": "romance",
    "chase": "action",
    "fight": "action",
    "explosion": "action",
}


def history(n: int) -> list[dict[str, str]]:
    """A deterministic history of ``n`` items."""
    return [
        {
            "id": f"item-{i:03d}",
            "input": f"Story {i}: a {WORDS[i % 9]} and a {WORDS[(i * 7) % 9]}.",
            "response": LABELS[WORDS[i % 9]],
        }
        for i in range(n)
    ]


def logging_responder(log: Path):  # type: ignore[no-untyped-def]
    def respond(messages: list[Any], schema: dict[str, Any]) -> dict[str, Any]:
        with log.open("a") as handle:
            handle.write(str(messages[-1].content)[:60].replace("\n", " ") + "\n")
        return rpm_responder(messages, schema)

    return respond


async def build(store_dir: Path, checkpoint_db: Path, n_items: int, delay: float) -> None:
    llm = FakeStructuredChatModel(
        responder=logging_responder(store_dir / "calls.log"), delay=delay, cache=SQLiteCache(store_dir / "llm.sqlite")
    )
    async with AsyncSqliteSaver.from_conn_string(str(checkpoint_db)) as saver:
        rpm = RPM(
            llm,
            task="lamp2",
            store=RPMStore(store_dir / "chroma", embeddings=CountingEmbeddings()),
            checkpointer=saver,
            max_concurrency=4,
        )
        profile = await rpm.abuild_user("ada", history(n_items))
    print(f"done version={profile.version} items={profile.num_items}", flush=True)


if __name__ == "__main__":
    delay = float(sys.argv[4]) if len(sys.argv) > 4 else 0.02
    asyncio.run(build(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), delay))
