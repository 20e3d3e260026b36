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
            function = tools[0]["function"]
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
when where whether which while whom will with would your year years three took"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def _fenced(text: str, tag: str) -> list[str]:
    return re.findall(rf"<{tag}>\n(.*?)\n</{tag}>", text, flags=re.S)


def _words(text: str) -> list[str]:
    words = [w.lower() for w in re.findall(r"[A-Za-z][A-Za-z'-]{3,}", text)]
    return list(dict.fromkeys(w for w in words if w not in _STOPWORDS))


_DEMO_FACTORS: dict[str, tuple[str, ...]] = {
    "Shipping": ("deliver", "shipp", "arriv", "late", "fast", "week", "slow", "packag"),
    "Durability": ("broke", "crack", "sturd", "build", "plast", "durab", "fragil"),
    "Price": ("price", "cheap", "expens", "cost", "value"),
    "Function": ("work", "batter", "use"),
    "Science": ("robot", "space", "alien", "astro", "station", "rogue", "scien", "futur"),
    "Romance": ("love", "wedd", "kiss", "roman", "heart", "paris"),
    "Action": ("fight", "chase", "explos", "heist", "battle", "crew"),
    "Method": ("method", "model", "learn", "train", "algor", "network", "approach", "reward"),
    "Evaluation": ("result", "bench", "evalu", "experim", "accura"),
}
"""The demo's idea of a domain: word stems -> one-word factor (any other word belongs to ``Context``)."""


def _category(name: str) -> str:
    words = name.lower().split()
    for factor, stems in _DEMO_FACTORS.items():
        if any(word.startswith(stem) for word in words for stem in stems):
            return factor
    return "Context"


def _features(text: str) -> list[dict[str, str]]:
    """The four longest words, each with the three words around it as its context."""
    tokens = text.split()
    features = []
    for word in sorted(_words(text), key=lambda w: -len(w))[:4]:
        at = next((i for i, t in enumerate(tokens) if word in t.lower()), 0)
        context = " ".join(t.strip(".,;:!?") for t in tokens[max(0, at - 1) : at + 2])
        features.append({"feature_name": word, "context": context})
    return features


def _stem_set(text: str) -> set[str]:
    return {w[:5] for w in re.findall(r"[a-z]{4,}", text.lower())}


def _numbered(text: str) -> list[tuple[int, str]]:
    return [(int(n), line) for n, line in re.findall(r"^(\d+)\. (.*)$", text, flags=re.M)]


def _title(schema: dict[str, Any]) -> str:
    """The schema's title; an entry of a packed schema has none, so extraction is told by its fields."""
    props = schema.get("properties", {})
    if schema.get("title") or "features" not in props:
        return str(schema.get("title", ""))
    aware = "factors" in props["features"].get("items", {}).get("properties", {})
    return "FactorAwareFeatures" if aware else "ExtractedFeatures"


def _demo_offline(title: str, system: str, human: str, schema: dict[str, Any]) -> dict[str, Any] | None:
    """The offline stages: extraction, Propose, Assign, the residual pass and the judge (None: not one)."""
    if title in ("ExtractedFeatures", "FactorAwareFeatures"):
        inputs = _fenced(human, "input")
        features = _features(inputs[0] if inputs else human)
        if title == "FactorAwareFeatures":
            allowed = schema["properties"]["features"]["items"]["properties"]["factors"]["items"]["enum"]
            members = dict(re.findall(r"^- (.*?): (.*)$", _fenced(system, "factors")[0], flags=re.M))
            for f in features:
                f["factors"] = [
                    n for n in allowed if _category(f["feature_name"]) == n or f["feature_name"] in members.get(n, "")
                ]  # type: ignore[assignment]
        return {"features": features}
    if title == "ProposedFactors":
        limit = re.search(r"Propose exactly (\d+)", system)
        kept = re.search(r"already kept: (.*?)\.$", system, flags=re.M)
        skip = {k.strip().lower() for k in (kept.group(1).split(",") if kept else [])}
        # the sample's factors first, then (like a model's broader proposals) the rest of its domain
        names = [_category(line.split(":")[0]) for line in _fenced(human, "features")[0].splitlines()]
        fresh = [n for n in dict.fromkeys([*names, *_DEMO_FACTORS, "Context"]) if n.lower() not in skip]
        return {"factors": fresh[: int(limit.group(1)) if limit else 16]}
    if title in ("FactorAssignment", "FactorAssignments", "ResidualAssignment", "ResidualAssignments"):
        head, _, body = human.partition("<features>")
        factors = [(n, line.split(":")[0].strip(), _stem_set(line)) for n, line in _numbered(head)]
        residual = title.startswith("Residual")

        def pick(line: str) -> int:
            name = line.split(":")[0]
            best = next((n for n, factor, _ in factors if factor == _category(name)), 0)
            if best or not residual:
                return best
            return max(factors, key=lambda f: (len(f[2] & _stem_set(line)), -f[0]))[0] if factors else 1

        lines = _numbered(body) if title.endswith("s") else [(1, body.strip().removesuffix("</features>").strip())]
        if not title.endswith("s"):
            return {"assignments": pick(lines[0][1])}
        return {"assignments": [{"feature": n, "factor": pick(line)} for n, line in lines]}
    if title == "FeatureJudgments":
        answer = _stem_set(" ".join(_fenced(human, "answer")))
        verdicts = [
            {"feature_index": n, "influenced": bool(_stem_set(line.split(":")[0]) & answer), "evaluation": "pos"}
            for n, line in _numbered(_fenced(human, "features")[0])
        ]
        return {"reasoning": "The answer echoes some of the features.", "influences": verdicts}
    return None


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
    """Sum of ``P(label)`` over the factors of the query's features (rows of the statistics table)."""
    wanted = {f.lower() for f in re.findall(r"^- .*? \[(.*?)\]", human, flags=re.M)}
    votes: dict[str, float] = {}
    for line in system.splitlines():
        cells = line.split(" | ")
        if len(cells) >= 3 and cells[0].lower() in wanted:
            for label, percent in re.findall(r"(?:^|; )(.+?) \d+/\d+ \(([0-9.]+)%\)", cells[-1]):
                votes[label] = votes.get(label, 0.0) + float(percent) / 100
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


def demo_responder(messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
    """Reply to any RPM or baseline prompt, deterministically, from the prompt text only."""
    system = str(messages[0].content) if messages else ""
    human = "\n".join(str(m.content) for m in messages[1:])
    props = schema.get("properties", {})
    offline = _demo_offline(_title(schema), system, human, schema)
    if offline is not None:
        return offline
    if "answer" in props:
        answer = _answer(system, human)
        reply: dict[str, Any] = {"answer": answer}
        if "reasoning" in props:
            reply["reasoning"] = f"Weighing the input against what I know, I answer {answer}."
        return reply
    if "reasoning" in props:
        known = _fenced(human, "answer")
        features = re.findall(r"^- (.*?) \[", human, flags=re.M)
        stems = _stem_set(known[0] if known else "")
        judged = [
            {"feature_index": i, "influenced": bool(_stem_set(name) & stems), "evaluation": "pos"}
            for i, name in enumerate(features)
        ]
        return {
            "reasoning": f"I noticed {', '.join(features) or 'nothing special'}, so I answered {known[0] if known else '?'}.",
            "influences": judged if "influences" in props else [],
        }
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
