"""RPM-aware deterministic responders for FakeStructuredChatModel, and counting embeddings.

The responders read the rendered prompts (a pure function of the messages), so every reply is
reproducible and safe under concurrency:

- extraction: one feature per keyword found in the fenced input (``KEYWORDS``), else its longest word; factor-aware
  extraction gives each its keyword category when that is one of the schema's factor names;
- Propose: every keyword category (so one round covers everything); Assign: the candidate named
  like the feature's category (else none); residual: that candidate, else the first one;
- judge: a feature influenced the answer when its first word appears in it (always "pos");
- reasoning (``ReasoningOutput``, ``JudgedReasoningOutput``): names the features and factors, never
  the reference answer (folded judgments like the judge's);
- generation (``PersonalizedAnswer``): the most common answer among the fenced exemplars (else the
  first value of the answer's enum).
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings
from langchain_core.messages import BaseMessage

from langchain_rpm._demo import schema_title
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
    if not found:  # no keyword: the input's longest word, as a model would name *something* it read
        words = re.findall(r"[a-z]{3,}", lowered)
        found = [(0, max(words, key=len))] if words else []
    return [{"feature_name": name, "context": name} for _, name in sorted(found)]


def _numbered(text: str) -> list[tuple[int, str]]:
    return [(int(n), line) for n, line in re.findall(r"^[A-Z]?(\d+)\. (.*)$", text, flags=re.M)]


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


def _phrase(text: str) -> str:
    return " " + " ".join(re.findall(r"[a-z0-9]+", text.lower())) + " "


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
        reply["influences"] = _influences(answer, [name for name, _ in rows])
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
    """Replies per output schema (dispatched on its title), derived from the prompt text only."""
    system = str(messages[0].content) if messages else ""
    human = str(messages[1].content) if len(messages) > 1 else ""
    props = schema.get("properties", {})
    kind = schema_title(schema)
    if kind in ("ExtractedFeatures", "FactorAwareFeatures"):
        inputs = _fenced(human, "input")
        features = extract_features(inputs[0] if inputs else human)
        if kind == "FactorAwareFeatures":
            allowed = props["features"]["items"]["properties"]["factors"]["items"]["enum"]
            for f in features:
                category = CATEGORY_OF.get(f["feature_name"])
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
    if kind == "PersonalizedAnswer":
        return generation_reply("\n".join(str(m.content) for m in messages[1:]), schema)
    if kind in ("ReasoningOutput", "JudgedReasoningOutput"):
        return reasoning_reply(human, judged=kind == "JudgedReasoningOutput")
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


def edited_http_responder(
    edit: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any] | None],
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """:func:`rpm_http_responder` with ``edit(call, request)`` run on each tool call of its reply.

    The arguments ``edit`` returns replace the call's; ``None`` leaves the call as it was.
    """

    def respond(request: dict[str, Any]) -> dict[str, Any]:
        reply = rpm_http_responder(request)
        for call in reply.get("tool_calls", []):
            arguments = edit(call, request)
            if arguments is not None:
                call["arguments"] = arguments
        return reply

    return respond
