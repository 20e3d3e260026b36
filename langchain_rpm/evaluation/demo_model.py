"""A deterministic stand-in "model" for offline demos of the evaluation harness (notebooks, CI, docs).

:func:`demo_chat_model` is a :class:`~langchain_rpm.testing.FakeStructuredChatModel` whose replies
are a pure function of the prompt (:func:`demo_responder`), so a whole evaluation runs in seconds
without a server. It follows simple rules, not understanding:

- **feature extraction**: up to four content words of the fenced input, each its own factor;
- **factor clustering**: groups items by the factor they propose;
- **reasoning paths**: names the features and the known answer;
- **answers**: the allowed answer most supported by the examples in the prompt (``Answer: ...``
  lines), else by the propensities of the query features' factors, else a fixed default (the first
  label, the middle rating, the first option, or the input's first words as a title).

Numbers it produces measure the plumbing, never a model's quality.

Example:
    >>> from pydantic import BaseModel
    >>> class Answer(BaseModel):
    ...     answer: str
    >>> model = demo_chat_model()
    >>> model.with_structured_output(Answer).invoke(
    ...     [("system", "Answer format: exactly one label from: comedy, action\\n"
    ...                 "<example>\\nInput: x\\nAnswer: action\\n</example>"), ("human", "<input>\\ny\\n</input>")])
    Answer(answer='action')
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from langchain_core.messages import BaseMessage

from langchain_rpm.testing import FakeStructuredChatModel, fill_schema

__all__ = ["demo_chat_model", "demo_responder"]

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
            return shown[0]
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
    if "answer" in props:
        answer = _answer(system, human)
        reply: dict[str, Any] = {"answer": answer}
        if "reasoning" in props:
            reply["reasoning"] = f"Weighing the input against what I know, I answer {answer}."
        return reply
    if "reasoning" in props:
        known = _fenced(human, "answer")
        features = re.findall(r"^- (.*?) \[", human, flags=re.M)
        factors = sorted(set(re.findall(r"^- .*? \[(.*?)\]", human, flags=re.M)))
        return {
            "reasoning": f"I noticed {', '.join(features) or 'nothing special'}, so I answered {known[0] if known else '?'}.",
            "factor_judgments": [{"factor": f, "influence": 0.5, "polarity": 1.0} for f in factors],
        }
    return fill_schema(schema, human)


def demo_chat_model(**kwargs: Any) -> FakeStructuredChatModel:
    """A :class:`FakeStructuredChatModel` answering with :func:`demo_responder` (named ``demo-deterministic``)."""
    kwargs.setdefault("model", "demo-deterministic")
    return FakeStructuredChatModel(responder=demo_responder, **kwargs)
