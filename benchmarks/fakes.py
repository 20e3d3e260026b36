"""The benchmarks' fake model and data: a timed deterministic chat model, call counting, made-up histories.

The model is :class:`~langchain_rpm.testing.FakeStructuredChatModel` with a fixed per-call ``delay`` and the
deterministic demo responder (made pack-aware here), so figures measure our orchestration, not a model.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings
from langchain_core.messages import BaseMessage, HumanMessage

from langchain_rpm import LAMP2, RPM, RPMStore
from langchain_rpm.testing import FakeStructuredChatModel, demo_responder

SYLLABLES = ["ka", "lo", "mi", "ter", "van", "sul", "dor", "pe", "rin", "gal", "mos", "tu", "bre", "nix", "ol"]
_ITEM = re.compile(r'<item id="(\d+)">\n(.*?)\n</item>', re.S)

Responder = Callable[[list[BaseMessage], dict[str, Any]], dict[str, Any]]


# -- the model -----------------------------------------------------------------------------------------------
def packing_responder(inner: Responder) -> Responder:
    """Make a single-item responder answer packed prompts: it answers each ``<item>`` alone.

    Example:
        >>> reply = packing_responder(lambda m, s: {"features": []})(
        ...     [HumanMessage("sys"), HumanMessage('<item id="1">\\nx\\n</item>')],
        ...     {"properties": {"items": {"items": {"properties": {"item_id": {}, "features": {}}}}}})
        >>> reply
        {'items': [{'item_id': 1, 'features': []}]}
    """

    def respond(messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        entry = schema.get("properties", {}).get("items", {}).get("items", {})
        if "item_id" not in entry.get("properties", {}):
            return inner(messages, schema)
        human = str(messages[-1].content)
        return {
            "items": [
                {"item_id": int(number), **inner([messages[0], HumanMessage(body)], entry)}
                for number, body in _ITEM.findall(human)
            ]
        }

    return respond


PAS_KINDS = {
    "ProposedFactors": "propose",
    "FactorAssignment": "assign",
    "FactorAssignments": "assign",
    "ResidualAssignment": "residual",
    "ResidualAssignments": "residual",
}


class Recorder:
    """Wraps a responder: counts calls by kind (``extract``, ``propose``, ``assign``, ``residual``, ``reason``)
    and the responder's own CPU time (the part of each call that stands in for the model)."""

    def __init__(self, inner: Responder) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.cpu = 0.0
        self._lock = threading.Lock()

    def __call__(self, messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        start = time.thread_time()
        text = json.dumps(schema)
        kind = PAS_KINDS.get(schema.get("title", "")) or ("extract" if '"features"' in text else "reason")
        reply = self.inner(messages, schema)
        with self._lock:
            self.calls[kind] += 1
            self.cpu += time.thread_time() - start
        return reply


def make_rpm(
    folder: str,
    *,
    delay: float,
    concurrency: int,
    pack_size: int = 1,
    embeddings: Embeddings | None = None,
    client: Any = None,
) -> tuple[RPM, FakeStructuredChatModel, Recorder]:
    """An RPM with the timed fake model, instant embeddings (unless given) and a store: embedded in ``folder``,
    or on ``client`` (a Chroma client, e.g. an ``HttpClient`` of a ``chroma run``) when given."""
    recorder = Recorder(packing_responder(demo_responder))
    model = FakeStructuredChatModel(responder=recorder, delay=delay, model="bench-fake")
    store = RPMStore(folder, client=client, embeddings=embeddings or DeterministicFakeEmbedding(size=384))
    return RPM(model, LAMP2, store=store, max_concurrency=concurrency, pack_size=pack_size), model, recorder


def history(n: int, user: int = 0, start: int = 0) -> list[dict[str, str]]:
    """``n`` movie-tagging items with varied made-up words (so features, and Assign batches, grow with n)."""
    items = []
    for i in range(start, start + n):
        words = []
        for k in range(4):
            h = (i * 4 + k) * 2654435761 + user * 40503
            words.append("".join(SYLLABLES[(h >> (4 * j)) % len(SYLLABLES)] for j in range(4)))
        text = f"A film where {words[0]} meets {words[1]}, with {words[2]} and {words[3]} throughout."
        items.append({"id": f"u{user}-i{i}", "input": text, "response": LAMP2.labels[(i + user) % len(LAMP2.labels)]})
    return items


async def warm_up(rpm: RPM, recorder: Recorder) -> None:
    """A tiny build of another user first: imports, schema binding and store collections are one-time costs."""
    await rpm.abuild_user("warm-up", history(2, user=999))
    recorder.calls.clear()
    recorder.cpu = 0.0
    rpm.components.llm.reset()  # type: ignore[attr-defined]
