"""RPM-aware deterministic responders for FakeStructuredChatModel, and counting embeddings.

The responders read the rendered prompts (a pure function of the messages), so every reply is
reproducible and safe under concurrency:

- extraction: one feature per keyword found in the fenced input (``KEYWORDS``); factor-aware
  extraction gives each its keyword category when that is one of the schema's factor names;
- Propose: every keyword category (so one round covers everything); Assign: the candidate named
  like the feature's category (else none); residual: that candidate, else the first one;
- judge: a feature influenced the answer when its first word appears in it (always "pos");
- reasoning: names the features and the known answer (folded judgments like the judge's);
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


CATEGORIES = list(dict.fromkeys(category for _, category in KEYWORDS.values()))
CATEGORY_OF = {name: category for name, category in KEYWORDS.values()}


def extract_features(text: str) -> list[dict[str, Any]]:
    lowered = text.lower()
    found = [(lowered.find(k), name) for k, (name, _) in KEYWORDS.items() if k in lowered]
    return [{"feature_name": name, "context": name} for _, name in sorted(found)]


def _kind(schema: dict[str, Any]) -> str:
    """The schema's title; packed entries (no title) by their fields."""
    props = schema.get("properties", {})
    if schema.get("title"):
        return str(schema["title"])
    if "features" in props:
        aware = "factors" in props["features"].get("items", {}).get("properties", {})
        return "FactorAwareFeatures" if aware else "ExtractedFeatures"
    return "ReasoningOutput"


def _numbered(text: str) -> list[tuple[int, str]]:
    return [(int(n), line) for n, line in re.findall(r"^(\d+)\. (.*)$", text, flags=re.M)]


def _assign(human: str, *, residual: bool) -> dict[int, int]:
    """Feature number -> candidate number (0: none) for an Assign or residual prompt."""
    head, _, body = human.partition("<features>")
    candidates = {line.split(":")[0].strip(): n for n, line in _numbered(head)}
    features = _numbered(body) or [(1, body.replace("</features>", "").strip())]
    chosen = {}
    for n, line in features:
        number = candidates.get(CATEGORY_OF.get(line.split(":")[0].strip(), ""), 0)
        chosen[n] = number or (1 if residual else 0)
    return chosen


def _influences(answer: str, names: list[str]) -> list[dict[str, Any]]:
    lowered = answer.lower()
    return [
        {"feature_index": i, "influenced": name.split()[0].rstrip("s") in lowered, "evaluation": "pos"}
        for i, name in enumerate(names)
    ]


def rpm_responder(messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
    """Replies per output schema (dispatched on its title), derived from the prompt text only."""
    system = str(messages[0].content) if messages else ""
    human = str(messages[1].content) if len(messages) > 1 else ""
    props = schema.get("properties", {})
    kind = _kind(schema)
    if kind in ("ExtractedFeatures", "FactorAwareFeatures"):
        inputs = _fenced(human, "input")
        features = extract_features(inputs[0] if inputs else human)
        if kind == "FactorAwareFeatures":
            allowed = props["features"]["items"]["properties"]["factors"]["items"]["enum"]
            for f in features:
                category = CATEGORY_OF[f["feature_name"]]
                f["factors"] = [category] if category in allowed else []
        return {"features": features}
    if kind == "ProposedFactors":
        kept = re.search(r"already kept: (.*?)\.$", system, flags=re.M)
        skip = set(kept.group(1).split(", ")) if kept else set()
        return {"factors": [c for c in CATEGORIES if c not in skip]}
    if kind in ("FactorAssignment", "ResidualAssignment"):
        return {"assignments": _assign(human, residual=kind.startswith("Residual"))[1]}
    if kind in ("FactorAssignments", "ResidualAssignments"):
        chosen = _assign(human, residual=kind.startswith("Residual"))
        return {"assignments": [{"feature": n, "factor": c} for n, c in chosen.items()]}
    if kind == "FeatureJudgments":
        names = [line.split(":")[0] for line in re.findall(r"^\d+\. (.*)$", _fenced(human, "features")[0], re.M)]
        return {"reasoning": "judged", "influences": _influences(" ".join(_fenced(human, "answer")), names)}
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
        influences = _influences(answer[0] if answer else "", feats) if "`influences`" in system else []
        return {
            "reasoning": f"I noticed {', '.join(feats) or 'nothing special'}, so I answered {answer[0] if answer else '?'}.",
            "influences": influences,
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
    schema = {"title": tool["name"], **tool.get("parameters", {})}
    return {"tool_calls": [{"name": tool["name"], "arguments": rpm_responder(messages, schema)}]}
