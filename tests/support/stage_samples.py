"""Inputs for every pipeline stage, per task kind, shared by the stage-type and prompt-snapshot tests.

Stages without a hand-written sample get one filled from their input schema (:func:`sample_input`), so
a newly exported stage is covered by those tests without editing them.
"""

from __future__ import annotations

import inspect
from typing import Any

import langchain_rpm.stages as stages
from langchain_rpm.stages import RPMStage
from langchain_rpm.tasks import TaskKind, TaskSpec
from langchain_rpm.testing import fill_schema

PIPELINE_STAGES: list[type[RPMStage[Any, Any]]] = sorted(
    (
        obj
        for name in stages.__all__
        if inspect.isclass(obj := getattr(stages, name)) and issubclass(obj, RPMStage) and not inspect.isabstract(obj)
    ),
    key=lambda cls: cls.__name__,
)
"""Every concrete ``RPMStage`` subclass that ``langchain_rpm.stages`` exports."""

_ITEMS: dict[TaskKind, dict[str, Any]] = {
    TaskKind.CLASSIFICATION: {"id": "1", "input": "Robots rebel on a space station.", "response": "sci-fi"},
    TaskKind.RATING: {"id": "1", "input": "Sturdy, but it arrived two weeks late.", "response": "2"},
    TaskKind.MULTIPLE_CHOICE: {
        "id": "1",
        "input": "How important is religion in your life?",
        "response": "Very important",
        "options": ["Very important", "Somewhat important", "Not too important"],
    },
    TaskKind.OPEN_ENDED: {
        "id": "1",
        "input": "We translate sign language videos into text by tracking hand keypoints.",
        "response": "Sign Language Translation: A Keypoint Approach",
    },
}
_FEATURES = [
    {"name": "late delivery", "context": "arrived two weeks late", "factor": "Shipping"},
    {"name": "sturdy build", "context": "sturdy", "factor": "Quality"},
]
_EXTRACTED = [{key: f[key] for key in ("name", "context")} for f in _FEATURES]
"""The same features as extraction returns them, before factor construction gives them a factor."""
_FACTORS = [{"name": "Shipping", "description": "How delivery went."}, {"name": "Quality"}]


def history_item(task: TaskSpec) -> dict[str, Any]:
    """A history item of ``task``'s kind."""
    return dict(_ITEMS[task.kind])


def sample_input(stage: RPMStage[Any, Any], task: TaskSpec) -> dict[str, Any]:
    """A valid input for ``stage`` on ``task``: a hand-written one, else one filled from its input schema."""
    item = history_item(task)
    exemplar = {
        "score": 0.9,
        "example": {
            "item_id": "h1",
            "input": item["input"],
            "options": item.get("options"),
            "features": _FEATURES,
            "reasoning": "Shipping outweighs build quality for this user.",
            "answer": task.check(item["response"], item.get("options")).answer,
        },
    }
    samples = {
        "FeatureExtractor": {"text": item["input"], "options": item.get("options")},
        "FactorAggregator": {"items": [item], "features": {"1": _EXTRACTED}},
        "FeatureJudge": {"item": item, "features": _FEATURES},
        "ReasoningPathBuilder": {"item": item, "features": _FEATURES, "factors": _FACTORS},
        "ReasoningGenerator": {
            "query": "Great product, but shipping took a month.",
            "options": item.get("options"),
            "features": _FEATURES[:1],
            "factors": _FACTORS,
            "examples": [exemplar],
        },
    }
    if type(stage).__name__ in samples:
        return samples[type(stage).__name__]
    return dict(fill_schema(stage.input_schema.model_json_schema(), item["input"]))
