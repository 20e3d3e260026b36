"""Counting guards: what a build's extraction window keeps alive while its other packs' calls run (issue 21).

Counted, never timed. A window's packs (one graph task) run concurrently; in a bulk build their calls wait
for LLM slots shared with every other user in flight, so whatever a finished pack keeps until its window
ends lives across many young collections and is promoted, and promoted objects bring the next full
collection (a walk of the whole heap) nearer. The guards run the calls one at a time (one slot) and count,
at each extraction call, the ``Feature`` models of the window's earlier packs still alive.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from typing import Any

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.messages import BaseMessage

from langchain_rpm.components import RPMComponents
from langchain_rpm.graphs.build import create_profile_build_graph
from langchain_rpm.store import RPMStore
from langchain_rpm.testing import FakeStructuredChatModel, demo_responder

HISTORY = [
    {"id": str(i), "input": f"A film about space {i} and a long love story.", "response": "sci-fi"} for i in range(4)
]


class Census:
    """The demo model; at each extraction call, counts the window's earlier ``Feature`` models still alive."""

    def __init__(self) -> None:
        self.features: list[weakref.ref[Any]] = []
        self.alive_at_calls: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        if schema.get("title") == "ExtractedFeatures":
            with self._lock:
                self.alive_at_calls.append(sum(ref() is not None for ref in self.features))
        return demo_responder(messages, schema)

    def watch(self, plan: Any) -> Any:
        """The extractor's ``pack_plan``, the features of its results recorded (weakly)."""

        def watched(*args: Any, **kwargs: Any) -> Any:
            results = yield from plan(*args, **kwargs)
            with self._lock:
                self.features += [weakref.ref(f) for result in results if isinstance(result, list) for f in result]
            return results

        return watched


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_finished_packs_feature_models_do_not_wait_for_the_rest_of_its_window(tmp_path, mode):
    census = Census()
    store = RPMStore(tmp_path, embeddings=DeterministicFakeEmbedding(size=8))
    parts = RPMComponents.create(FakeStructuredChatModel(responder=census), "lamp2", store=store, max_concurrency=1)
    parts.extractor.pack_plan = census.watch(parts.extractor.pack_plan)  # type: ignore[method-assign]
    graph = create_profile_build_graph(parts, packs_per_task=4).compile()  # one window of 4 packs
    request = {"user_id": "ada", "history": HISTORY}
    out = graph.invoke(request) if mode == "sync" else asyncio.run(graph.ainvoke(request))
    assert out["profile"]["num_items"] == 4
    assert len(census.alive_at_calls) == 4 and census.features, census.alive_at_calls
    assert census.alive_at_calls == [0, 0, 0, 0]
    stored = {ex.item_id: ex for ex in store.get_examples("ada")}
    assert sorted(stored) == ["0", "1", "2", "3"]
    assert all(ex.features and all(f.factor for f in ex.features) for ex in stored.values())
