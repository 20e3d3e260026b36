"""Snapshots of every prompt and output schema the pipeline sends, per stage and task kind (syrupy).

Wording lives here, not in behaviour tests: a deliberate prompt change shows up as a snapshot diff to
review and accept with ``pytest tests/unit/test_prompt_snapshots.py --snapshot-update`` (and a bump of
``PROMPT_VERSION``). Each case runs a stage on the demo model and records every call it makes, so the
stages' own code paths decide what is sent (several calls per stage, as in factor construction).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from langchain_rpm import GLOBAL_OPINION_QA, LAMP2, LAMP3, LAMP5, FeatureExtractor, ReasoningPathBuilder
from langchain_rpm.testing import FakeStructuredChatModel, demo_responder
from tests.support.stage_samples import PIPELINE_STAGES, history_item, sample_input

TASKS = [LAMP2, LAMP3, GLOBAL_OPINION_QA, LAMP5]


class Recording:
    """The demo responder, recording each call as ``{"tool", "schema", "messages"}``."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        call = {
            "tool": schema.get("title", ""),
            "schema": {k: v for k, v in schema.items() if k != "title"},
            "messages": [f"[{m.type}]\n{m.content}" for m in messages],
        }
        with self._lock:
            self.calls.append(call)
        return demo_responder(messages, schema)


def recorded(run: Any) -> list[dict[str, Any]]:
    recording = Recording()
    run(FakeStructuredChatModel(responder=recording))
    return recording.calls


@pytest.mark.parametrize("task", TASKS, ids=lambda task: task.name)
@pytest.mark.parametrize("cls", PIPELINE_STAGES, ids=[cls.__name__ for cls in PIPELINE_STAGES])
def test_stage_prompts(cls, task, snapshot):
    calls = recorded(lambda model: (stage := cls(model, task)).invoke(sample_input(stage, task)))
    assert calls, f"{cls.__name__} made no model call"
    assert calls == snapshot


@pytest.mark.parametrize("task", TASKS, ids=lambda task: task.name)
def test_packed_reasoning_prompt(task, snapshot):
    def run(model: FakeStructuredChatModel) -> None:
        builder = ReasoningPathBuilder(model, task)
        first = sample_input(builder, task)
        second = {**first, "item": {**first["item"], "id": "2", "input": "A second item of the history."}}
        builder.invoke_pack([first, second])

    assert recorded(run)[0] == snapshot


def test_paper_preset_reasoning_prompt_has_no_folded_judge(snapshot):
    """The paper preset judges open-ended items in their own call (FeatureJudge), so reasoning is plain."""

    def run(model: FakeStructuredChatModel) -> None:
        builder = ReasoningPathBuilder(model, LAMP5, fold_judge=False)
        builder.invoke(sample_input(builder, LAMP5))

    (call,) = recorded(run)
    assert call["tool"] == "ReasoningOutput" and "influences" not in call["messages"][0]
    assert call == snapshot


def test_factor_aware_and_packed_extraction_prompts(snapshot):
    factors = [{"name": "Shipping", "description": "How delivery went."}, {"name": "Quality"}]

    def run(model: FakeStructuredChatModel) -> None:
        extractor = FeatureExtractor(model, LAMP3, stage="query_extract")
        extractor.invoke({"text": "Great product, but shipping took a month.", "factors": factors})
        extractor.invoke_pack([history_item(LAMP3)["input"], "Cheap plastic, broke in a day."])

    assert recorded(run) == snapshot


@pytest.mark.parametrize("task", TASKS, ids=lambda task: task.name)
def test_paper_preset_single_feature_assign_and_residual_prompts(task, snapshot):
    from langchain_rpm.prompts.catalog import record_prompts

    prompts = record_prompts(task, "paper")
    shown = {
        tool: [f"[{m.type}]\n{m.content}" for m in prompts[tool]] for tool in ("FactorAssignment", "ResidualAssignment")
    }
    assert shown == snapshot
