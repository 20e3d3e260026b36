"""What stalls a bulk build's event loop: Chroma's write calls (they hold the interpreter) and the garbage collector.

Imports nothing of the package, so a baseline source tree's run can load it by path too.
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from typing import Any

from chromadb.api.models.Collection import Collection

METHODS = ("get", "add", "upsert", "delete")


def install() -> dict[str, Any]:
    """Time every Chroma collection call and every garbage collection from now on, per method / generation."""
    clock: dict[str, Any] = {
        "chroma_calls": Counter(),
        "chroma_ids": Counter(),
        "chroma_wall_s": Counter(),
        "gc_wall_s": Counter(),
        "gc_max_ms": Counter(),
    }
    for name in METHODS:
        original = getattr(Collection, name)

        def timed(
            collection: Collection, *args: Any, _name: str = name, _original: Any = original, **kwargs: Any
        ) -> Any:
            start = time.perf_counter()
            try:
                return _original(collection, *args, **kwargs)
            finally:
                key = f"{collection.name.rsplit('_', 1)[-1]}.{_name}"
                clock["chroma_wall_s"][key] += time.perf_counter() - start
                clock["chroma_calls"][key] += 1
                clock["chroma_ids"][key] += len(kwargs.get("ids") or []) if _name != "get" else 0

        setattr(Collection, name, timed)
    started = [0.0]

    def collected(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        key, took = f"gen{info['generation']}", time.perf_counter() - started[0]
        clock["gc_wall_s"][key] += took
        clock["gc_max_ms"][key] = max(clock["gc_max_ms"][key], 1000 * took)

    gc.callbacks.append(collected)
    return clock


def summary(clock: dict[str, Any]) -> dict[str, Any]:
    """The clock as plain, rounded numbers (JSON)."""
    return {key: {k: round(v, 3) for k, v in sorted(counter.items())} for key, counter in clock.items()}
