"""Progress events on LangGraph's custom stream: stage order and done/total counts, sync and async."""

from __future__ import annotations

from itertools import groupby
from typing import Any

import pytest

from langchain_rpm import RPMContext, create_inference_graph, create_profile_build_graph
from tests.unit.conftest import MOVIE_HISTORY

N = len(MOVIE_HISTORY)
MODES = ["custom", "updates"]


async def _collect(graph: Any, payload: dict[str, Any], use_async: bool, **kwargs: Any) -> list[tuple[str, Any]]:
    if use_async:
        return [(mode, chunk) async for mode, chunk in graph.astream(payload, stream_mode=MODES, **kwargs)]
    return list(graph.stream(payload, stream_mode=MODES, **kwargs))


def _progress(stream: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    return [chunk for mode, chunk in stream if mode == "custom" and chunk.get("type") == "rpm_progress"]


def _position(stream: list[tuple[str, Any]], predicate: Any) -> list[int]:
    return [i for i, item in enumerate(stream) if predicate(*item)]


# Not max_concurrency=1 with sync `stream`: LangGraph 1.2.24 then deadlocks in any graph, since the sync
# stream's waiter for "custom"/"messages" events takes the executor's only slot (upstream issue).
@pytest.mark.parametrize("use_async", [False, True])
@pytest.mark.parametrize("max_concurrency", [2, 4])
async def test_build_events_arrive_in_stage_order_with_counts(rpm, use_async, max_concurrency):
    graph = create_profile_build_graph(rpm.components).compile()
    stream = await _collect(
        graph, {"user_id": "ada", "history": MOVIE_HISTORY}, use_async, config={"max_concurrency": max_concurrency}
    )
    events = _progress(stream)
    assert [stage for stage, _ in groupby(e["stage"] for e in events)] == ["extract", "aggregate", "reason", "store"]
    assert {e["user_id"] for e in events} == {"ada"}
    by_stage = {
        stage: [(e["done"], e["total"]) for e in events if e["stage"] == stage] for stage in ("extract", "reason")
    }
    for stage, counts in by_stage.items():
        assert counts == [(done, N) for done in range(N + 1)], stage  # 0, 1, ..., N out of N, in order
    assert [(e["done"], e["total"]) for e in events if e["stage"] == "aggregate"] == [(0, 1), (1, 1)]
    assert [(e["done"], e["total"]) for e in events if e["stage"] == "store"] == [(0, N), (N, N)]
    # Events are live: each stage's last event arrives before the update of the node that follows it.
    last_extract = _position(stream, lambda m, c: m == "custom" and c.get("stage") == "extract")[-1]
    aggregate_update = _position(stream, lambda m, c: m == "updates" and "aggregate" in c)[0]
    last_reason = _position(stream, lambda m, c: m == "custom" and c.get("stage") == "reason")[-1]
    finalize_update = _position(stream, lambda m, c: m == "updates" and "finalize" in c)[0]
    assert last_extract < aggregate_update < last_reason < finalize_update


@pytest.mark.parametrize("use_async", [False, True])
async def test_inference_events_arrive_in_stage_order(rpm, use_async):
    rpm.build_user("ada", MOVIE_HISTORY)
    graph = create_inference_graph(rpm.components).compile()
    stream = await _collect(graph, {"rpm_query": "A robot in love."}, use_async, context=RPMContext(user_id="ada"))
    events = _progress(stream)
    assert [(e["stage"], e["done"], e["total"], e["user_id"]) for e in events] == [
        ("query_features", 1, 1, "ada"),
        ("retrieve", 1, 1, "ada"),
        ("generate", 1, 1, "ada"),
    ]
    updates = [next(iter(chunk)) for mode, chunk in stream if mode == "updates"]
    assert updates == ["rpm_extract", "rpm_retrieve", "rpm_generate"]
    assert [mode for mode, _ in stream] == ["custom", "updates"] * 3  # each event precedes its node's update


async def test_update_mode_counts_only_new_items(rpm):
    rpm.build_user("ada", MOVIE_HISTORY)
    graph = create_profile_build_graph(rpm.components).compile()
    new = [{"id": "n1", "input": "Robots kiss.", "response": "romance"}]
    stream = await _collect(graph, {"user_id": "ada", "mode": "update", "history": new}, True)
    events = _progress(stream)
    assert [(e["stage"], e["done"], e["total"]) for e in events] == [
        ("extract", 0, 1),
        ("extract", 1, 1),
        ("reason", 0, 1),
        ("reason", 1, 1),
        ("store", 0, 1),
        ("store", 1, 1),
    ]  # no aggregate stage: the new item fits the stored factors, no clustering call
