"""How a profile build's per-item results become state values: outputs as plain dicts, failures recorded.

State holds JSON-like values (DESIGN §3). Every dict kept here lives until the build ends, and each is
one more object the interpreter's full collections walk; so a reasoning result shares the feature dicts
the state already holds for its item instead of dumping copies (:func:`sharing_features`).

Example:
    >>> from langchain_rpm.types import Feature, ReasoningExample
    >>> models = [Feature(name="Pace", context="a slow start")]
    >>> dumped = [models[0].model_dump()]
    >>> example = ReasoningExample(item_id="1", input="A slow film.", features=models, reasoning="r", answer="drama")
    >>> sharing_features(example, models, dumped)["features"] is dumped
    True
"""

from __future__ import annotations

from typing import Any

from langgraph.errors import GraphBubbleUp

from langchain_rpm.errors import StructuredOutputError
from langchain_rpm.types import FailedItem, Feature, ReasoningExample


def failure_entry(item_id: str, stage: str, exc: Exception) -> dict[str, Any]:
    """``{item_id: FailedItem dict}`` for an item whose call failed (LangGraph's interrupts propagate)."""
    if isinstance(exc, GraphBubbleUp):
        raise exc
    return {item_id: FailedItem(item_id=item_id, stage=stage, error=f"{type(exc).__name__}: {exc}"[:500]).model_dump()}


def as_history_item(example: dict[str, Any]) -> dict[str, Any]:
    """A stored example as a history-item dict (its answer is the response)."""
    return {
        "id": example["item_id"],
        "input": example["input"],
        "response": example["answer"],
        "options": example.get("options"),
        "time": example.get("time"),
    }


def sharing_features(result: Any, models: list[Feature], dumped: list[dict[str, Any]]) -> Any:
    """A reasoning result as a state dict whose features are ``dumped``, the state's own dicts of ``models``.

    When the stage kept the request's feature objects (no folded judge), the example's features are
    exactly ``dumped``: sharing them, not dumping copies, keeps about 20 fewer objects per item alive
    for the rest of the build. Anything else (an exception, features the stage changed) is returned as
    it is.
    """
    if not isinstance(result, ReasoningExample):
        return result
    kept = len(result.features) == len(models) and all(a is b for a, b in zip(result.features, models, strict=True))
    if not kept:
        return result
    return {**result.model_dump(exclude={"features"}), "features": dumped}


def keyless(result: Any) -> Any:
    """An item left with no usable feature fails: its example would have no retrieval key and nothing to reason on."""
    if isinstance(result, list) and not result:
        return StructuredOutputError("FeatureExtractor: no usable feature after a retry (only non-words or copies)")
    return result
