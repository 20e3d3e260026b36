"""RPM-aware deterministic responders for FakeStructuredChatModel, and counting embeddings.

The responders read the rendered prompts (a pure function of the messages), so every reply is
reproducible and safe under concurrency:

- extraction: one feature per keyword found in the fenced input (``KEYWORDS``);
- clustering: groups the numbered lines by their ``(proposed: X)`` hint;
- reasoning: names the features and the known answer;
- generation: answers with the most common answer among the fenced examples (else the first
  allowed answer in the answer format line).
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


def rpm_responder(messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
    """Replies per output schema, derived from the prompt text only."""
    system = str(messages[0].content) if messages else ""
    human = str(messages[1].content) if len(messages) > 1 else ""
    props = schema.get("properties", {})
    if "features" in props and "members" not in str(schema):
        inputs = _fenced(human, "input")
        return {"features": extract_features(inputs[0] if inputs else human)}
    if "factors" in props:
        groups: dict[str, list[int]] = {}
        for index, name, hint in re.findall(r"^(\d+): (.*?)(?: \(proposed: (.*)\)| — .*)?$", human, flags=re.M):
            groups.setdefault(hint or name, []).append(int(index))
        return {"factors": [{"name": n, "description": f"All about {n}.", "members": m} for n, m in groups.items()]}
    if "reasoning" in props and "answer" in props:
        answers = re.findall(r"^Answer: (.*)$", system, flags=re.M)
        if answers:
            answer = Counter(answers).most_common(1)[0][0]
        else:
            fmt = re.search(r"^Answer format: .*?from: (.*)$", system, flags=re.M)
            answer = re.split(r", | \| ", fmt.group(1))[0] if fmt else "5"
        return {"reasoning": f"Like before, I lean to {answer}.", "answer": answer}
    if "reasoning" in props:
        answer = _fenced(human, "answer")
        feats = re.findall(r"^- (.*?) \[", human, flags=re.M)
        judgments = []
        if "factor_judgments" in system or "influence" in system:
            factors = sorted(set(re.findall(r"\[(.*?)\]", human)))
            judgments = [{"factor": f, "influence": 0.5, "polarity": 1.0} for f in factors]
        return {
            "reasoning": f"I noticed {', '.join(feats) or 'nothing special'}, so I answered {answer[0] if answer else '?'}.",
            "factor_judgments": judgments,
        }
    return fill_schema(schema, human)


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
    return {"tool_calls": [{"name": tool["name"], "arguments": rpm_responder(messages, tool.get("parameters", {}))}]}
