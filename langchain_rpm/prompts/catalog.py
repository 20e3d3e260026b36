"""The prompt catalogue: every prompt RPM sends, for each task and both presets, rendered on realistic items.

:func:`render_catalog` runs the real stages (extraction, Propose-Assign-Select, the judge, reasoning
paths, factor-aware query extraction, generation) on a three-item history and a query per task,
with the offline demo model answering, and records the first prompt of every kind exactly as the
model receives it. ``docs/prompts.md`` is its output (``python -m langchain_rpm.prompts.catalog >
docs/prompts.md``); a test keeps the file current.

Example:
    >>> text = render_catalog(tasks=["lamp3"], presets=["paper"])
    >>> "## LaMP-3" in text and "### paper: FactorAssignment" in text
    True
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage

from langchain_rpm.settings import RPMSettings
from langchain_rpm.tasks import TaskKind, TaskSpec, get_task
from langchain_rpm.types import HistoryItem, RetrievedExample

_HISTORIES: dict[str, tuple[str, list[dict[str, Any]], dict[str, Any]]] = {
    "lamp2": (
        "LaMP-2 (movie tags)",
        [
            {
                "input": "In a city where the state erases memories each night, a clerk hides one of his own "
                "and starts to run from the agents sent to take it.",
                "response": "dystopia",
            },
            {
                "input": "Two rival magicians in Victorian London sabotage each other's tricks until one of "
                "them vanishes for good.",
                "response": "twist ending",
            },
            {
                "input": "A retired boxer agrees to train his estranged daughter for one last fight.",
                "response": "based on a book",
            },
        ],
        {
            "text": "After a plague, a lone engineer keeps the last city's water running while its council "
            "rations every drop."
        },
    ),
    "lamp3": (
        "LaMP-3 (product ratings)",
        [
            {
                "input": "The kettle boils fast and looks great, but the lid hinge cracked after two weeks.",
                "response": "2",
            },
            {"input": "Solid headphones for the price; the cable is short but the sound is clean.", "response": "4"},
            {
                "input": "Arrived a week late and the box was crushed, yet the blender itself works perfectly.",
                "response": "3",
            },
        ],
        {"text": "Comfortable office chair, easy to assemble, though the armrests wobble a little."},
    ),
    "lamp5": (
        "LaMP-5 (paper titles)",
        [
            {
                "input": "We translate sign language videos into text by tracking hand and body keypoints with a "
                "transformer, reaching state-of-the-art accuracy on two benchmarks with a tenth of the compute.",
                "response": "Sign Language Translation with Keypoint Transformers",
            },
            {
                "input": "We study how curriculum order affects small language models and find that easy-to-hard "
                "ordering speeds up training without hurting final accuracy.",
                "response": "Curriculum Order Matters for Small Language Models",
            },
            {
                "input": "A lightweight graph network predicts traffic on road sensors an hour ahead and runs on a "
                "single CPU.",
                "response": "Cheap Graph Networks for Hour-Ahead Traffic Forecasting",
            },
        ],
        {
            "text": "We compress vision transformers by pruning attention heads that a small probe marks as "
            "redundant, keeping accuracy within one point at half the latency."
        },
    ),
    "goqa": (
        "GlobalOpinionQA (a country's survey answers)",
        [
            {
                "input": "How important is religion in your life?",
                "response": "Very important",
                "options": ["Very important", "Somewhat important", "Not too important", "Not at all important"],
            },
            {
                "input": "Do you think the government should reduce income differences between rich and poor?",
                "response": "Agree",
                "options": ["Agree", "Disagree", "Neither"],
            },
            {
                "input": "Is the economic situation in our country good or bad?",
                "response": "Somewhat bad",
                "options": ["Very good", "Somewhat good", "Somewhat bad", "Very bad"],
            },
        ],
        {"text": "Should women have the same rights as men?", "options": ["Yes", "No", "It depends"]},
    ),
}
"""Per task: a title, a three-item history and a query (our own made-up items in the datasets' style)."""


class _Recorder:
    """The demo responder, keeping the first prompt of every tool (output schema) in call order.

    Assign answers "none fits" for the feature ``unfit``, so the residual pass runs and shows its prompt.
    Assign and residual calls run concurrently: of those, the prompt kept is the smallest in text order.
    """

    def __init__(self) -> None:
        self.first: dict[str, list[BaseMessage]] = {}
        self.unfit = ""
        self._lock = threading.Lock()

    def __call__(self, messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        from langchain_rpm.testing import demo_responder

        title = str(schema.get("title", ""))
        with self._lock:
            kept = self.first.setdefault(title, list(messages))
            concurrent = title.startswith(("FactorAssignment", "ResidualAssignment"))
            if concurrent and str(messages[-1].content) < str(kept[-1].content):
                self.first[title] = list(messages)
        reply = demo_responder(messages, schema)
        if title.startswith("FactorAssignment"):
            features = str(messages[-1].content).partition("<features>")[2]
            if title == "FactorAssignment" and self.unfit in features:
                reply = {"assignments": 0}
            elif title == "FactorAssignments":
                for entry in reply["assignments"]:
                    entry["factor"] = "C0" if entry.get("feature_name", "") in self.unfit else entry["factor"]
        return reply


def record_prompts(task: TaskSpec, preset: str) -> dict[str, list[BaseMessage]]:
    """Run the stages of ``preset`` on ``task``'s sample history and query; the first prompt of every tool."""
    from langchain_rpm.stages import (
        FactorAggregator,
        FeatureExtractor,
        FeatureJudge,
        ReasoningGenerator,
        ReasoningPathBuilder,
    )
    from langchain_rpm.testing import FakeStructuredChatModel

    _, rows, query = _HISTORIES[task.name]
    settings = RPMSettings.for_preset(preset)
    recorder = _Recorder()
    model = FakeStructuredChatModel(responder=recorder)
    items = [HistoryItem(id=str(i), **row) for i, row in enumerate(rows, 1)]
    extractor = FeatureExtractor(model, task)
    features = {item.id: extractor.invoke(item) for item in items}
    recorder.unfit = min(f"{f.name}: {f.context}" for feats in features.values() for f in feats)
    label_free = task.kind is TaskKind.MULTIPLE_CHOICE and settings.option_statistics == "judge"
    if label_free or (task.kind is TaskKind.OPEN_ENDED and settings.judge == "separate"):
        judge = FeatureJudge(model, task)
        features = {item.id: judge.invoke({"item": item, "features": features[item.id]}) for item in items}
    built = FactorAggregator(model, task, settings=settings).invoke({"items": items, "features": features})
    judged = built.features
    reasoner = ReasoningPathBuilder(
        model, task, fold_judge=settings.judge == "in_reasoning", leak_retries=settings.leak_retries
    )
    example = reasoner.invoke({"item": items[0], "features": judged[items[0].id], "factors": built.factors})
    aware = FeatureExtractor(model, task, stage="query_extract")
    query_features = aware.invoke({**query, "factors": built.factors})
    ReasoningGenerator(model, task).invoke(
        {
            **{"query": query["text"], "options": query.get("options")},
            "features": query_features,
            "factors": built.factors,
            "examples": [RetrievedExample(score=0.9, example=example)],
        }
    )
    return recorder.first


def render_catalog(tasks: Sequence[str] = tuple(_HISTORIES), presets: Sequence[str] = ("paper", "default")) -> str:
    """The Markdown catalogue of every prompt, per task and preset (the content of ``docs/prompts.md``)."""
    from langchain_rpm.prompts import PROMPT_VERSION

    out = [
        "# Every prompt RPM sends",
        "",
        f"Generated from the code by `python -m langchain_rpm.prompts.catalog` (prompt version {PROMPT_VERSION}); "
        "`tests/unit/test_prompt_catalog.py` fails when this file is stale. Each task runs a three-item history "
        "and one query through the stages of each preset, answered by the offline demo model, and shows the "
        "first prompt of each kind exactly as the model receives it (the tool name is the output schema). "
        "Under `paper`, Assign and the residual pass ask about one feature per call; under `default`, up to "
        "20 features per call; open-ended tasks get a separate judge call under `paper` only.",
    ]
    for name in tasks:
        task = get_task(name)
        out += ["", f"## {_HISTORIES[task.name][0]}"]
        for preset in presets:
            for tool, messages in record_prompts(task, preset).items():
                out += ["", f"### {preset}: {tool}", ""]
                for message in messages:
                    out += [f"`[{message.type}]`", "", "```text", str(message.content), "```", ""]
                out.pop()
    out += ["", "## Follow-up messages", "", "Added after the prompt when a reply needs another try:", ""]
    for name, text in _FOLLOW_UPS.items():
        out += [f"- {name}:", "", "  ```text", *[f"  {line}" for line in text.splitlines()], "  ```", ""]
    return "\n".join(out).rstrip() + "\n"


def _follow_ups() -> dict[str, str]:
    from langchain_rpm.prompts import COPIED_EXAMPLE_FEEDBACK, LEAK_FEEDBACK, RETRY_ON_INVALID

    return {
        "a reply that does not fit its schema (every stage)": RETRY_ON_INVALID,
        "a reasoning path that concludes its answer (`leak_retries`, default preset)": LEAK_FEEDBACK,
        "extracted features that copy the worked example": COPIED_EXAMPLE_FEEDBACK,
    }


_FOLLOW_UPS = _follow_ups()


if __name__ == "__main__":  # pragma: no cover - the generator of docs/prompts.md
    sys.stdout.write(render_catalog())
