"""Counting guards of a build's per-call CPU work (issue 21): what is done once stays done once.

Counted, never timed: prompts started ahead of the LLM bound, factor tables rendered, leak patterns
compiled or searched, sub-plans started for a single item; and a user's callback handler still sees
every model call after the cuts, sync and async.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage

from langchain_rpm import LAMP2, RPM, RPMStore, tasks
from langchain_rpm._plans import CallLimiter, run
from langchain_rpm.graphs._windows import graph_tasks
from langchain_rpm.stages import _leaks, _packing, reasoning
from langchain_rpm.stages._leaks import find_leak
from langchain_rpm.testing import FakeStructuredChatModel
from langchain_rpm.types import Usage
from langchain_rpm.usage import UsageTracker, stage_config
from tests.support.rpm_fakes import CountingEmbeddings, rpm_responder

HISTORY = [
    {"id": f"i{i}", "input": f"A film about robots number {i} in space.", "response": LAMP2.labels[i % 3]}
    for i in range(24)
]


def make_rpm(tmp_path, responder: Any = rpm_responder, **options: Any) -> tuple[RPM, FakeStructuredChatModel]:
    model = FakeStructuredChatModel(responder=responder, **options)
    store = RPMStore(tmp_path / "store", embeddings=CountingEmbeddings())
    return RPM(model, "lamp2", store=store, max_concurrency=4), model


class Outstanding:
    """Counts extraction prompts rendered and not yet answered by the model; keeps the peak."""

    def __init__(self) -> None:
        self.now = self.peak = 0
        self.lock = threading.Lock()

    def rendered(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def answered(self, messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.now -= 1
        return rpm_responder(messages, schema)


async def test_an_async_build_starts_about_two_llm_bounds_of_prompts_not_the_whole_phase(tmp_path):
    outstanding = Outstanding()
    rpm, _ = make_rpm(tmp_path, outstanding.answered, delay=0.01)
    extractor = rpm.components.extractor
    render = extractor.prompt

    def counted(request: Any) -> Any:
        outstanding.rendered()
        return render(request)

    extractor.prompt = counted  # type: ignore[method-assign]
    await rpm.abuild_user("ada", HISTORY)
    # 3 graph tasks x a window of 4 packs: before, 2 x 4 + 1 = 9 tasks started all 24 prompts at once
    assert graph_tasks(4, 4) == 3
    assert 4 <= outstanding.peak <= 3 * 4


def test_a_build_renders_the_factor_table_once_not_once_per_call(tmp_path, monkeypatch):
    rendered = []
    original = reasoning.render_factors
    monkeypatch.setattr(reasoning, "render_factors", lambda *a, **k: rendered.append(1) or original(*a, **k))
    rpm, _ = make_rpm(tmp_path)
    rpm.build_user("ada", HISTORY)
    # once per build (twice if the first two windows race to it); before: once per reasoning call (24)
    assert 1 <= len(rendered) <= 2


class CountingRe:
    """The ``re`` module as ``_leaks`` sees it, counting pattern compiles and string-pattern searches."""

    def __init__(self) -> None:
        self.compiled = 0
        self.searched = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(re, name)

    def compile(self, pattern: str, flags: int = 0) -> re.Pattern[str]:
        self.compiled += 1
        return re.compile(pattern, flags)

    def search(self, pattern: str, text: str, flags: int = 0) -> re.Match[str] | None:
        self.searched += 1
        return re.search(pattern, text, flags)


def clear_compiled() -> None:
    patterns = getattr(_leaks, "_conclusion_patterns", None)
    if patterns is not None:
        patterns.cache_clear()


def test_the_leak_rule_builds_no_pattern_for_a_reasoning_without_the_answers_words(monkeypatch):
    counting = CountingRe()
    monkeypatch.setattr(_leaks, "re", counting)
    clear_compiled()
    for label in LAMP2.labels:  # before: three patterns built and searched per label
        assert find_leak(LAMP2, "Robots in space weigh most for this user, 3/4 of such items.", label) is None
    assert (counting.compiled, counting.searched) == (0, 0)


def test_the_leak_rule_compiles_an_answers_patterns_once(monkeypatch):
    counting = CountingRe()
    monkeypatch.setattr(_leaks, "re", counting)
    clear_compiled()
    verdicts = [find_leak(LAMP2, text, "sci-fi") for text in ("So the tag is sci fi.", "Science fiction, the answer.")]
    verdicts += [find_leak(LAMP2, "The answer is science fiction.", "sci-fi")]
    assert [v is not None for v in verdicts] == [True, False, True]
    assert counting.compiled + counting.searched == 3  # before: 5 searches by pattern text


def test_a_single_item_pack_runs_in_its_plan_without_starting_a_sub_plan(tmp_path, monkeypatch):
    gathers = []
    original = _packing.gather
    monkeypatch.setattr(_packing, "gather", lambda plans, **k: gathers.append(len(plans)) or original(plans, **k))
    rpm, model = make_rpm(tmp_path)
    results = run(rpm.components.extractor.pack_plan(["A robot film."]))
    assert len(results) == 1 and not isinstance(results[0], Exception)
    assert gathers == [] and model.call_count == 1


class CallCounter(BaseCallbackHandler):
    def __init__(self) -> None:
        self.started = self.ended = 0

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.started += 1

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        self.ended += 1


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_users_callback_handler_sees_every_model_call_of_a_build(tmp_path, mode):
    rpm, model = make_rpm(tmp_path)
    handler = CallCounter()
    if mode == "sync":
        profile = rpm.build_user("ada", HISTORY, config={"callbacks": [handler]})
    else:
        profile = await rpm.abuild_user("ada", HISTORY, config={"callbacks": [handler]})
    assert handler.started == handler.ended == model.call_count == profile.cost.llm_calls > len(HISTORY)


async def test_a_model_call_takes_its_slot_without_a_new_context_manager_per_call():
    limiter = CallLimiter(2)
    first, second = limiter.ahold(), limiter.ahold()  # before: a new async-generator context manager each time
    assert first is second
    async with first, second:
        assert first.locked()
    assert limiter.hold() is limiter.hold()


def test_the_usage_tracker_counts_a_call_without_building_usage_models(monkeypatch):
    built = []
    plus = Usage.plus
    monkeypatch.setattr(Usage, "plus", lambda self, *a: built.append(1) or plus(self, *a))
    tracker = UsageTracker()
    model = FakeStructuredChatModel()
    for _ in range(20):
        model.invoke("hi", stage_config({"callbacks": [tracker]}, "extract"))
    assert built == []  # before: one Usage rebuilt per call (20)
    assert tracker.usage.calls_by_stage == {"extract": 20} and len(built) == 1


def test_matching_a_label_keys_the_answer_not_every_label_each_time(monkeypatch):
    keyed = []
    key = tasks._key
    monkeypatch.setattr(tasks, "_key", lambda text: keyed.append(text) or key(text))
    LAMP2.check("Sci Fi")
    keyed.clear()
    assert LAMP2.check("Sci Fi").answer == "sci-fi"
    assert keyed == ["Sci Fi"]  # before: the answer and every label up to the match
