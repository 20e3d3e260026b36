"""Counting guards of what a build keeps alive and in which order its calls run (issue 21, round 4).

Counted, never timed: objects a build keeps (each one more for the interpreter's full collections to
walk), feature reads of the statistics, and the order in which a finished call hands its LLM slot to a
waiting call and processes its reply.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.messages import BaseMessage
from pydantic import Field

from langchain_rpm import LAMP2, RPMStore
from langchain_rpm._plans import CallLimiter, Invoke, arun
from langchain_rpm.components import RPMComponents
from langchain_rpm.graphs import create_profile_build_graph
from langchain_rpm.stages import FactorAggregator
from langchain_rpm.stages.statistics import factor_statistics, refresh_factors
from langchain_rpm.testing import FakeStructuredChatModel, demo_chat_model
from langchain_rpm.types import Factor, Feature, HistoryItem, ReasoningExample
from langchain_rpm.usage import UsageTracker, stage_config
from tests.support.rpm_fakes import CountingEmbeddings, rpm_responder

HISTORY = [
    {"id": f"i{i}", "input": f"A film about robots number {i} in space.", "response": LAMP2.labels[i % 3]}
    for i in range(12)
]


def test_reasoning_examples_share_the_states_feature_dicts_instead_of_copies(tmp_path):
    store = RPMStore(tmp_path / "store", embeddings=CountingEmbeddings())
    parts = RPMComponents.create(FakeStructuredChatModel(responder=rpm_responder), "lamp2", store=store)
    out = create_profile_build_graph(parts).compile().invoke({"user_id": "ada", "history": HISTORY})
    examples, features = out["examples"], out["features"]
    assert set(examples) == set(features) == {item["id"] for item in HISTORY}
    dicts = [f for feats in features.values() for f in feats] + [f for ex in examples.values() for f in ex["features"]]
    # one dict per feature, held by both keys (before: every example held a copy of each of its features)
    assert len({id(d) for d in dicts}) == sum(len(feats) for feats in features.values())
    for item_id, example in examples.items():  # and the example is exactly what dumping it gives
        assert example["features"] is features[item_id]
        assert ReasoningExample.model_validate(example).model_dump() == example
    assert out["profile"]["num_items"] == len(HISTORY)


def test_the_feature_pool_of_propose_assign_select_copies_no_bare_feature(monkeypatch):
    made = []
    init = Feature.__init__

    def counted(self: Feature, **data: Any) -> None:
        made.append(data.get("name"))
        init(self, **data)

    features = {
        str(i): [Feature(name=f"pace {i}", context="a slow start"), Feature(name=f"robot {i}", context="a robot")]
        for i in range(5)
    }
    items = [HistoryItem(id=str(i), input=f"Film {i}.", response="drama") for i in range(5)]
    monkeypatch.setattr(Feature, "__init__", counted)
    result = FactorAggregator(demo_chat_model(), LAMP2).invoke({"items": items, "features": features})
    assert made == []  # before: one copy per distinct feature for the pool (10)
    assert sum(len(feats) for feats in result.features.values()) == 10
    assert all(f.factor for feats in result.features.values() for f in feats)


def test_statistics_read_each_features_factors_once_not_once_per_factor(monkeypatch):
    names = [f"F{k}" for k in range(8)]
    features = {str(i): [Feature(name=f"f{i}{j}", factor=names[(i + j) % 8]) for j in range(3)] for i in range(10)}
    items = [HistoryItem(id=str(i), input="x", response=LAMP2.labels[i % 3]) for i in range(10)]
    examples = [
        ReasoningExample(item_id=item.id, input="x", features=features[item.id], reasoning="r", answer=item.response)
        for item in items
    ]
    reads = []
    prop = Feature.factors
    monkeypatch.setattr(Feature, "factors", property(lambda self: reads.append(1) or prop.fget(self)))  # type: ignore[union-attr]
    stats = factor_statistics(LAMP2, items, features, names)
    assert len(reads) == 30  # before: one read per feature and factor (8 x 30 = 240)
    assert sum(s.support for s in stats.values()) == 30
    reads.clear()
    refreshed = refresh_factors(LAMP2, [Factor(name=n) for n in names], examples)
    assert len(reads) == 60  # the statistics' pass and the members' pass; before: 480
    assert sorted(m for f in refreshed for m in f.features) == sorted(f.name for fs in features.values() for f in fs)


class SlotModel(FakeStructuredChatModel):
    """Records when each call reaches the model (its request would be sent now)."""

    events: list[tuple[str, str]] = Field(default_factory=list)

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Any:
        self.events.append(("request", str(messages[0].content)))
        await asyncio.sleep(0.01)
        return self._dispatch(messages, kw)


@pytest.mark.parametrize("traced", [False, True])
async def test_a_finished_call_hands_its_slot_over_before_its_reply_is_processed(traced):
    model = SlotModel(responder=lambda m, s: {"text": "ok"}, events=[])
    limiter = CallLimiter(1)
    config = stage_config({"callbacks": [UsageTracker()]} if traced else {}, "extract")

    def plan(name: str) -> Any:
        reply = yield Invoke(model, name, config, limiter)
        model.events.append(("processed", name))
        return reply

    await asyncio.gather(arun(plan("a")), arun(plan("b")))
    # before: a's reply was processed while b still waited for the slot, so each wave of calls waited for
    # the CPU of the whole previous wave
    assert model.events == [("request", "a"), ("request", "b"), ("processed", "a"), ("processed", "b")]


def test_a_feature_without_extra_factors_leaves_its_fields_and_dumps_to_reference_counting():
    """A build holds hundreds of features per user; each tracked container is one more object promoted and
    walked by every full collection (a 200-item build: 83 -> 57 promotions per LLM call with this)."""
    import gc

    feature = Feature(name="Taste", context="the flavor", factor="Quality")
    assert feature.extra_factors == () and not gc.is_tracked(feature.__dict__)
    assert not gc.is_tracked(feature.model_dump())  # the state's feature dicts
    several = Feature(name="Taste", factor="Quality", extra_factors=["Sensory"])
    assert several.extra_factors == ("Sensory",) and several.factors == ["Quality", "Sensory"]
