"""Counting guards: what a Propose-Assign-Select pass keeps alive while its calls run (issue 21, round 6).

Counted, never timed. Objects alive across the interpreter's young collections are promoted, and every
promoted object brings the next full collection (a walk of the whole heap) nearer; a pass of an N = 1,000
build makes about 200 calls. The guards run the calls one at a time (a limiter of 1 slot) and count, at
each Assign call, the pass's earlier reply models still alive and the prompts rendered for calls not yet made.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import uuid
import weakref
from typing import Any

import pytest
from langchain_core.messages import BaseMessage
from langchain_core.prompt_values import ChatPromptValue

from langchain_rpm import LAMP3, FactorAggregator, HistoryItem
from langchain_rpm._plans import CallLimiter
from langchain_rpm.settings import RPMSettings
from langchain_rpm.testing import FakeStructuredChatModel, demo_responder
from langchain_rpm.types import Feature

ITEMS = [HistoryItem(id=str(i), input=f"review {i}", response=str(1 + i % 5)) for i in range(12)]


class Census:
    """The demo model's replies; at each Assign call, counts the pass's live reply models and rendered prompts."""

    def __init__(self, token: str) -> None:
        self.token = token  # in every feature line of this run: marks its prompts
        self.replies: list[weakref.ref[Any]] = []
        self.replies_alive: list[int] = []
        self.prompts_alive: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        if schema.get("title") in ("FactorAssignment", "FactorAssignments"):
            prompts = [o for o in gc.get_objects() if isinstance(o, ChatPromptValue)]
            with self._lock:
                self.replies_alive.append(sum(ref() is not None for ref in self.replies))
                self.prompts_alive.append(sum(self.token in str(p.messages[-1].content) for p in prompts))
        return demo_responder(messages, schema)

    def watch(self, plan: Any) -> Any:
        """``plan`` of a structured caller, its replies recorded (weakly: the record keeps none alive)."""

        def watched(*args: Any, **kwargs: Any) -> Any:
            reply = yield from plan(*args, **kwargs)
            with self._lock:
                self.replies.append(weakref.ref(reply))
            return reply

        return watched


def aggregate(batch_size: int, mode: str) -> Census:
    census = Census(f"guard {uuid.uuid4().hex[:8]}")
    features = {
        str(i): [
            Feature(name=f"taste {i}", context=f"{census.token} flavor"),
            Feature(name=f"price {i}", context=f"{census.token} cost"),
        ]
        for i in range(12)
    }
    settings = RPMSettings.for_preset("paper", assign_batch_size=batch_size, residual_batch_size=batch_size)
    model = FakeStructuredChatModel(responder=census)
    aggregator = FactorAggregator(model, LAMP3, settings=settings, limiter=CallLimiter(1))
    aggregator.assigner.plan = census.watch(aggregator.assigner.plan)  # type: ignore[method-assign]
    request = {"items": ITEMS, "features": features}
    result = aggregator.invoke(request) if mode == "sync" else asyncio.run(aggregator.ainvoke(request))
    assert sum(len(feats) for feats in result.features.values()) == 24
    assert all(f.factor for feats in result.features.values() for f in feats)
    return census


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("batch_size", [1, 4])
def test_an_assign_pass_keeps_no_reply_model_of_its_finished_calls(batch_size, mode):
    census = aggregate(batch_size, mode)
    assert len(census.replies_alive) >= 24 // batch_size  # the first round's Assign pass alone makes this many
    # before: each finished call's reply model (with one entry model per feature) stayed until the pass ended,
    # so the last call of a 24-call pass saw 23 of them
    assert max(census.replies_alive) == 0


def test_a_sync_assign_pass_renders_a_prompt_only_when_its_call_starts():
    census = aggregate(1, "sync")  # 24 one-feature calls on at most 16 worker threads
    # before: all 24 prompts were rendered before the first call; now one per started call (at most 16), plus
    # the prompt value LangChain makes of the running call's messages.
    assert census.prompts_alive[0] <= 16 + 1
    assert max(census.prompts_alive) <= 16 + 1
