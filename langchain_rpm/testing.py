"""Test doubles in one place: a deterministic tool-calling fake chat model, and the offline demo model.

LangChain's stock fake chat models do not implement ``bind_tools``, so ``with_structured_output``
fails on them. :class:`FakeStructuredChatModel` records the tool schemas it is bound to and replies
with a tool call whose arguments are a pure function of the messages (safe under concurrent
``batch``/``abatch``). An optional fixed ``delay`` simulates model latency for benchmarks.

:func:`demo_chat_model` is that model answering every RPM and baseline prompt with simple
deterministic rules (:func:`demo_responder`): the README, notebooks, doctests and the evaluation's
dry run use it offline. Numbers it produces measure the plumbing, never a model's quality.

Example:
    >>> from pydantic import BaseModel
    >>> class Answer(BaseModel):
    ...     answer: str
    >>> model = FakeStructuredChatModel(responder=lambda messages, schema: {"answer": "42"})
    >>> model.with_structured_output(Answer).invoke("What is the answer?")
    Answer(answer='42')
    >>> model.call_count
    1
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, cast

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import PrivateAttr

Responder = Callable[[list[BaseMessage], dict[str, Any]], dict[str, Any]]
"""``(messages, tool_json_schema) -> tool-call arguments``; the schema's ``title`` is the tool's name."""


def fill_schema(schema: dict[str, Any], seed_text: str, *, root: dict[str, Any] | None = None) -> Any:
    """Deterministic placeholder value for a JSON schema, with words drawn from ``seed_text``.

    Example:
        >>> fill_schema({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}, "x")
        {'n': 0}
    """
    root = root or schema
    if "$ref" in schema:
        name = schema["$ref"].split("/")[-1]
        return fill_schema(root.get("$defs", {}).get(name, {}), seed_text, root=root)
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"] or schema["anyOf"]
        return fill_schema(options[0], seed_text, root=root)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if kind == "object":
        props = schema.get("properties", {})
        return {key: fill_schema(sub, f"{seed_text} {key}", root=root) for key, sub in props.items()}
    if kind == "array":
        return [fill_schema(schema.get("items", {}), f"{seed_text} {i}", root=root) for i in range(2)]
    if kind == "integer":
        return max(0, int(schema.get("minimum", 0)))
    if kind == "number":
        low, high = schema.get("minimum", 0.0), schema.get("maximum", 1.0)
        return (low + high) / 2
    if kind == "boolean":
        return True
    words = re.findall(r"[A-Za-z]{3,}", seed_text) or ["text"]
    digest = int(hashlib.sha256(seed_text.encode()).hexdigest(), 16)
    return " ".join(words[(digest >> (8 * i)) % len(words)] for i in range(3))


def default_responder(messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
    """Fill the tool's schema with words from the last message."""
    return cast(dict[str, Any], fill_schema(schema, str(messages[-1].content) if messages else ""))


class FakeStructuredChatModel(BaseChatModel):
    """Deterministic tool-calling chat model for tests and benchmarks.

    Args:
        responder: Pure function ``(messages, tool_schema) -> arguments``; default fills the schema.
        delay: Seconds each call takes (``time.sleep`` / ``asyncio.sleep``), to simulate latency.
        model: Name reported in profiles.
    """

    responder: Responder = default_responder
    delay: float = 0.0
    model: str = "fake-structured"
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _calls: int = PrivateAttr(default=0)
    _bound_schemas: list[dict[str, Any]] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "fake-structured-chat"

    @property
    def call_count(self) -> int:
        """Chat completions generated so far (cache hits are not counted)."""
        return self._calls

    @property
    def bound_schemas(self) -> list[dict[str, Any]]:
        """Every tool schema this model was bound to, in order."""
        return list(self._bound_schemas)

    def reset(self) -> None:
        """Zero the call counter."""
        with self._lock:
            self._calls = 0

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools like a real chat model (their schemas are recorded in :attr:`bound_schemas`)."""
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        with self._lock:
            self._bound_schemas.extend(formatted)
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def _reply(self, messages: list[BaseMessage], tools: list[dict[str, Any]] | None) -> ChatResult:
        with self._lock:
            self._calls += 1
        prompt_chars = sum(len(str(m.content)) for m in messages)
        if tools:
            function = tools[0]["function"]  # the responder sees the schema titled with the tool's name
            args = self.responder(messages, {"title": function["name"], **function.get("parameters", {})})
            call_id = "call_" + hashlib.sha256(repr((function["name"], args)).encode()).hexdigest()[:12]
            message = AIMessage(content="", tool_calls=[{"name": function["name"], "args": args, "id": call_id}])
            completion_chars = len(repr(args))
        else:
            text = str(self.responder(messages, {"type": "object", "properties": {"text": {"type": "string"}}})["text"])
            message = AIMessage(content=text)
            completion_chars = len(text)
        message.usage_metadata = {
            "input_tokens": max(1, prompt_chars // 4),
            "output_tokens": max(1, completion_chars // 4),
            "total_tokens": max(1, prompt_chars // 4) + max(1, completion_chars // 4),
        }
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.delay:
            time.sleep(self.delay)
        return self._reply(messages, kwargs.get("tools"))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.delay:
            await asyncio.sleep(self.delay)
        return self._reply(messages, kwargs.get("tools"))


# -- the offline demo model -----------------------------------------------------------------------------
_STOPWORD_TEXT = """about above after again against along among around based because been before being below between
both could does doing down during each every from further have having here into itself just more most must other over
same should some such than that their them then there these they this those through under until using very were what
when where whether which while whom will with would your year years"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def _fenced(text: str, tag: str) -> list[str]:
    return re.findall(rf"<{tag}>\n(.*?)\n</{tag}>", text, flags=re.S)


def _words(text: str) -> list[str]:
    words = [w.lower() for w in re.findall(r"[A-Za-z][A-Za-z'-]{3,}", text)]
    return list(dict.fromkeys(w for w in words if w not in _STOPWORDS))


def _features(text: str) -> list[dict[str, str]]:
    words = sorted(_words(text), key=lambda w: -len(w))[:4]
    return [{"name": w, "context": w, "factor": w.title()} for w in words]


def _allowed(system: str) -> tuple[list[str], str]:
    """Allowed answers from the ``Answer format:`` line, and the answer kind."""
    line = re.search(r"^Answer format: (.*)$", system, flags=re.M)
    fmt = line.group(1) if line else ""
    rating = re.search(r"rating from (\d+) to (\d+)", fmt)
    if rating:
        return [str(v) for v in range(int(rating.group(1)), int(rating.group(2)) + 1)], "rating"
    if "verbatim, from: " in fmt:
        return fmt.split("verbatim, from: ", 1)[1].split(" | "), "option"
    if "label from: " in fmt:
        return fmt.split("label from: ", 1)[1].split(", "), "label"
    return [], "text"


def _propensity_votes(system: str, human: str) -> dict[str, float]:
    """Sum of ``P(label)`` over the factors of the query's features."""
    wanted = {f.lower() for f in re.findall(r"^- .*? \[(.*?)\]", human, flags=re.M)}
    votes: dict[str, float] = {}
    for name, stats in re.findall(r"^- (.*?)(?::.*?)? — (.*)$", system, flags=re.M):
        if name.lower() in wanted:
            for label, p in re.findall(r"P\((.*?)\)=([0-9.]+)", stats):
                votes[label] = votes.get(label, 0.0) + float(p)
    return votes


def _answer(system: str, human: str) -> str:
    shown = re.findall(r"^Answer: (.*)$", system, flags=re.M)
    allowed, kind = _allowed(system)
    if kind == "text":
        if shown:
            return str(shown[0])
        inputs = _fenced(human, "input")
        return " ".join(w.title() for w in (inputs[0] if inputs else human).split()[:8]) or "Untitled"
    votes: dict[str, float] = dict(Counter(a.strip().lower() for a in shown))
    if not votes:
        votes = {k.lower(): v for k, v in _propensity_votes(system, human).items()}
    scored = [(votes.get(option.lower(), 0.0), -i) for i, option in enumerate(allowed)]
    if allowed and max(scored)[0] > 0:
        return allowed[-max(scored)[1]]
    if kind == "rating":
        return allowed[len(allowed) // 2]
    return allowed[0] if allowed else "unknown"


def _exemplars(text: str) -> list[tuple[str, str]]:
    """``(input, answer)`` of every fenced exemplar in a generation prompt."""
    found = []
    for body in _fenced(text, "example"):
        shown, answer = re.search(r"^Input: (.*)$", body, re.M), re.search(r"^Answer: (.*)$", body, re.M)
        if answer:
            found.append((shown.group(1) if shown else "", answer.group(1).strip()))
    return found


def _phrase(text: str) -> str:
    """The lowercase words of ``text``, space-joined and space-padded, for phrase tests with ``in``."""
    return " " + " ".join(re.findall(r"[a-z0-9]+", text.lower())) + " "


def _stems(text: str) -> set[str]:
    return {word[:5] for word in _words(text)}


def _demo_generation(human: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The answer of the exemplar sharing most word stems with the new input (else the most common one)."""
    key = next(k for k in schema.get("properties", {}) if k != "reasoning")
    enum = schema["properties"][key].get("enum")
    allowed = [str(v) for v in enum] if enum else None
    query = (_fenced(human, "input") or [human])[-1]
    shown = [(text, answer) for text, answer in _exemplars(human) if allowed is None or answer in allowed]
    scores = [len(_stems(query) & _stems(text)) for text, _ in shown]
    if shown and max(scores) > 0:
        best = scores.index(max(scores))
        answer, why = shown[best][1], f"the new input is closest to exemplar {best + 1}"
    elif shown:
        answer, why = Counter(a for _, a in shown).most_common(1)[0][0], "most exemplars point the same way"
    elif allowed:
        answer, why = allowed[len(allowed) // 2 if isinstance(enum[0], int) else 0], "nothing in the history decides"
    else:
        answer, why = " ".join(w.title() for w in query.split()[:8]) or "Untitled", "it restates the input"
    value: Any = int(answer) if enum and isinstance(enum[0], int) else answer
    return {"reasoning": f"Factors first, then the exemplars: {why}.", key: value}


def _demo_reasoning(human: str, judged: bool) -> dict[str, Any]:
    """Names the features and factors, never the reference answer; judges a feature influenced by shared stems."""
    answer = (_fenced(human, "answer") or [""])[0]
    block = (_fenced(human, "features") or [""])[0]
    rows = [re.match(r"^(?:- |\d+\. )(.*?)(?: \[(.*?)\])?(?:: .*)?$", line) for line in block.splitlines()]
    parsed = [(m.group(1), m.group(2) or "") for m in rows if m]
    gold = _phrase(answer) if re.search(r"[A-Za-z0-9]", answer) else ""
    shown = [name for name, _ in parsed if not gold or gold not in _phrase(name)]  # never the answer's words
    factors = sorted({factor for _, factor in parsed if factor and (not gold or gold not in _phrase(factor))})
    reply: dict[str, Any] = {
        "reasoning": f"The input shows {', '.join(shown) or 'nothing in particular'}; "
        f"{', '.join(factors) or 'its content'} weighs on this user, so the answer follows from it."
    }
    if judged:
        hits = [bool(_stems(name) & _stems(answer)) for name, _ in parsed]
        reply["influences"] = [
            {"feature_index": i, "influenced": hit, "evaluation": "pos" if hit else None} for i, hit in enumerate(hits)
        ]
    return reply


def _schema_title(schema: dict[str, Any]) -> str:
    """The schema's title (the tool name), or the name its shape implies (entries of packed replies have none)."""
    if schema.get("title"):
        return str(schema["title"])
    rest = set(schema.get("properties", {})) - {"item_id", "reasoning"}
    if "reasoning" not in schema.get("properties", {}) or rest not in ({"influences"}, set()):
        return ""
    return "JudgedReasoningOutput" if rest else "ReasoningOutput"


def demo_responder(messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
    """Reply to any RPM or baseline prompt, deterministically, from the prompt text and the tool's schema."""
    system = str(messages[0].content) if messages else ""
    human = "\n".join(str(m.content) for m in messages[1:])
    props = schema.get("properties", {})
    title = _schema_title(schema)
    if title == "PersonalizedAnswer":
        return _demo_generation(human, schema)
    if title in ("ReasoningOutput", "JudgedReasoningOutput"):
        return _demo_reasoning(human, judged=title == "JudgedReasoningOutput")
    if "features" in props and "members" not in str(schema):
        inputs = _fenced(human, "input")
        return {"features": _features(inputs[0] if inputs else human)}
    if "factors" in props:
        groups: dict[str, list[int]] = {}
        for index, name, hint in re.findall(r"^(\d+): (.*?)(?: \(proposed: (.*)\)| — .*)?$", human, flags=re.M):
            groups.setdefault(hint or name, []).append(int(index))
        return {
            "factors": [
                {"name": n, "description": f"Items about {n.lower()}.", "members": m} for n, m in groups.items()
            ]
        }
    if "answer" in props:  # the baselines' DirectAnswer / GeneratedAnswer
        answer = _answer(system, human)
        reply: dict[str, Any] = {"answer": answer}
        if "reasoning" in props:
            reply["reasoning"] = f"Weighing the input against what I know, I answer {answer}."
        return reply
    return cast(dict[str, Any], fill_schema(schema, human))


def demo_chat_model(**kwargs: Any) -> FakeStructuredChatModel:
    """A :class:`FakeStructuredChatModel` answering with :func:`demo_responder` (named ``demo-deterministic``)."""
    kwargs.setdefault("model", "demo-deterministic")
    return FakeStructuredChatModel(responder=demo_responder, **kwargs)


DEMO_HISTORY: list[dict[str, str]] = [
    {"id": "1", "input": "Arrived broken, the plastic cracked.", "response": "1"},
    {"id": "2", "input": "Sturdy build and fast delivery.", "response": "5"},
    {"id": "3", "input": "Works, but shipping took three weeks.", "response": "3"},
]
"""A three-item LaMP-3-style history (product reviews and star ratings) for examples."""


def demo_rpm(task: str = "lamp3", *, user: str | None = "ada", **options: Any) -> Any:
    """An :class:`~langchain_rpm.RPM` on the demo model, fake embeddings and a fresh temporary store.

    With ``user``, that user is built from :data:`DEMO_HISTORY` (a LaMP-3 history). For examples
    and tests only: nothing here calls a real model.

    Example:
        >>> rpm = demo_rpm()
        >>> rpm.profile("ada").num_items
        3
    """
    import tempfile

    from langchain_core.embeddings import DeterministicFakeEmbedding

    from langchain_rpm.rpm import RPM
    from langchain_rpm.store import RPMStore

    store = RPMStore(tempfile.mkdtemp(prefix="rpm-demo-"), embeddings=DeterministicFakeEmbedding(size=16))
    rpm = RPM(demo_chat_model(), task=task, store=store, **options)
    if user is not None:
        rpm.build_user(user, DEMO_HISTORY)
    return rpm
