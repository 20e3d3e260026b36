"""RPM-aware deterministic responders for FakeStructuredChatModel, and counting embeddings.

The responders read the rendered prompts (a pure function of the messages), so every reply is
reproducible and safe under concurrency:

- extraction: one feature per keyword found in the fenced input (``KEYWORDS``);
- clustering: groups the numbered lines by their ``(proposed: X)`` hint;
- reasoning (``ReasoningOutput``, ``JudgedReasoningOutput``): names the features, never the reference
  answer; the judge marks a feature influenced (``pos``) when it shares a word stem with the answer;
- generation (``PersonalizedAnswer``): the most common answer among the fenced exemplars (else the
  first value of the answer's enum).

Replies are chosen by the tool schema's title (entries of packed replies, which have none, by
:data:`PACKED_ENTRIES`).
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from typing import Any

from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings
from langchain_core.messages import BaseMessage

from langchain_rpm.testing import FakeStructuredChatModel, fill_schema

KEYWORDS: dict[str, tuple[str, str]] = {
    "robot": ("robots", "Science themes"),
    "space": ("outer space", "Science themes"),
    "alien": ("aliens", "Science themes"),
    "wedding": ("wedding", "Romance"),
    "love": ("love story", "Romance"),
    "kiss": ("kiss", "Romance"),
    "chase": ("car chase", "Action"),
    "fight": ("fist fight", "Action"),
    "explosion": ("explosions", "Action"),
    "late": ("late delivery", "Shipping"),
    "slow": ("slow shipping", "Shipping"),
    "broke": ("broke quickly", "Durability"),
    "sturdy": ("sturdy build", "Durability"),
    "cheap": ("low price", "Price"),
    "expensive": ("high price", "Price"),
}


def _fenced(text: str, tag: str) -> list[str]:
    return re.findall(rf"<{tag}>\n(.*?)\n</{tag}>", text, flags=re.S)


def extract_features(text: str) -> list[dict[str, str]]:
    lowered = text.lower()
    found = [(lowered.find(k), name, factor) for k, (name, factor) in KEYWORDS.items() if k in lowered]
    return [{"name": name, "context": name, "factor": factor} for _, name, factor in sorted(found)]


PACKED_ENTRIES = {
    "PackedFeatures": "ExtractedFeatures",
    "PackedReasoning": "ReasoningOutput",
    "PackedJudgedReasoning": "JudgedReasoningOutput",
}
"""The schema an entry of each packed reply answers (entries carry no title of their own)."""


def _phrase(text: str) -> str:
    return " " + " ".join(re.findall(r"[a-z0-9]+", text.lower())) + " "


def _stems(text: str) -> set[str]:
    return {word[:5] for word in re.findall(r"[a-z]{4,}", text.lower())}


def reasoning_reply(human: str, judged: bool) -> dict[str, Any]:
    """A reasoning path naming the item's features and factors (never the answer), with verdicts if ``judged``."""
    answer = (_fenced(human, "answer") or [""])[0]
    rows = re.findall(r"^(?:- |\d+\. )(.*?)(?: \[(.*?)\])?(?:: .*)?$", (_fenced(human, "features") or [""])[0], re.M)
    gold = _phrase(answer)
    names = [name for name, _ in rows if gold not in _phrase(name)]  # a careful model never names the answer
    factors = sorted({factor for _, factor in rows if factor and gold not in _phrase(factor)})
    reply: dict[str, Any] = {
        "reasoning": f"Given {', '.join(names) or 'nothing special'} and the factors {', '.join(factors) or 'none'}, "
        "the answer follows."
    }
    if judged:
        hits = [bool(_stems(name) & _stems(answer)) for name, _ in rows]
        reply["influences"] = [
            {"feature_index": i, "influenced": hit, "evaluation": "pos" if hit else None} for i, hit in enumerate(hits)
        ]
    return reply


def generation_reply(human: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The most common answer of the fenced exemplars, else the first allowed answer."""
    key = next(k for k in schema["properties"] if k != "reasoning")
    enum = schema["properties"][key].get("enum")
    answers = [a.strip() for body in _fenced(human, "example") for a in re.findall(r"^Answer: (.*)$", body, re.M)]
    answers = [a for a in answers if not enum or a in [str(v) for v in enum]]
    if answers:
        answer: Any = Counter(answers).most_common(1)[0][0]
    else:
        answer = str(enum[0]) if enum else " ".join((_fenced(human, "input") or ["Untitled"])[-1].split()[:3])
    value = int(answer) if enum and isinstance(enum[0], int) else answer
    return {"reasoning": f"Like before, I lean to {answer}.", key: value}


def rpm_responder(messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
    """Replies per output schema (by its title), derived from the prompt text only."""
    human = str(messages[1].content) if len(messages) > 1 else ""
    props = schema.get("properties", {})
    title = schema.get("title", "")
    if title == "PersonalizedAnswer":
        return generation_reply("\n".join(str(m.content) for m in messages[1:]), schema)
    if title in ("ReasoningOutput", "JudgedReasoningOutput"):
        return reasoning_reply(human, judged=title == "JudgedReasoningOutput")
    if "features" in props and "members" not in str(schema):
        inputs = _fenced(human, "input")
        return {"features": extract_features(inputs[0] if inputs else human)}
    if "factors" in props:
        groups: dict[str, list[int]] = {}
        for index, name, hint in re.findall(r"^(\d+): (.*?)(?: \(proposed: (.*)\)| — .*)?$", human, flags=re.M):
            groups.setdefault(hint or name, []).append(int(index))
        return {"factors": [{"name": n, "description": f"All about {n}.", "members": m} for n, m in groups.items()]}
    return fill_schema(schema, human)


class Scripted:
    """A responder that replies with ``replies`` in turn (the last one repeats) and records every prompt."""

    def __init__(self, *replies: dict[str, Any]) -> None:
        self.replies = list(replies)
        self.prompts: list[list[BaseMessage]] = []

    def __call__(self, messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        self.prompts.append(messages)
        return dict(self.replies[min(len(self.prompts), len(self.replies)) - 1])


def rpm_fake_model(**kwargs: Any) -> FakeStructuredChatModel:
    return FakeStructuredChatModel(responder=rpm_responder, **kwargs)


class CountingEmbeddings(Embeddings):
    """DeterministicFakeEmbedding that counts query and document embeddings."""

    model_name = "counting-fake-16"

    def __init__(self, size: int = 16) -> None:
        self._inner = DeterministicFakeEmbedding(size=size)
        self._lock = threading.Lock()
        self.query_calls = 0
        self.document_calls = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            self.document_calls += len(texts)
        return self._inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            self.query_calls += 1
        return self._inner.embed_query(text)


def rpm_http_responder(request: dict[str, Any]) -> dict[str, Any]:
    """:func:`rpm_responder` for :class:`tests.support.fault_server.FaultServer` (OpenAI wire format)."""
    from langchain_core.messages import convert_to_messages

    messages = convert_to_messages(
        [{"role": m["role"], "content": m.get("content") or ""} for m in request["messages"]]
    )
    tool = (request.get("tools") or [{}])[0].get("function")
    if tool is None:
        return {"content": "ok"}
    schema = {"title": tool["name"], **tool.get("parameters", {})}
    return {"tool_calls": [{"name": tool["name"], "arguments": rpm_responder(messages, schema)}]}
