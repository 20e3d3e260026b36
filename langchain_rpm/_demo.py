r"""The offline demo model's rules: deterministic replies to every RPM and baseline prompt.

:func:`demo_responder` reads only the prompt text and the tool's schema (by its title), so replies are
reproducible and safe under concurrency. Used through :func:`langchain_rpm.testing.demo_chat_model`.
Its answers measure the plumbing, never a model's quality.

Example:
    >>> from langchain_core.messages import HumanMessage, SystemMessage
    >>> messages = [SystemMessage("Extract features."), HumanMessage("<input>\nA sturdy lamp.\n</input>")]
    >>> demo_responder(messages, {"title": "ExtractedFeatures"})["features"][0]
    {'feature_name': 'sturdy', 'context': 'A sturdy lamp'}
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from typing import Any, cast

from langchain_core.messages import BaseMessage

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
    return [(int(n), line) for n, line in re.findall(r"^[A-Z]?(\d+)\. (.*)$", text, flags=re.M)]


def schema_title(schema: dict[str, Any]) -> str:
    """The schema's title; an entry of a packed schema has none, so extraction and reasoning are told by its fields.

    Example:
        >>> schema_title({"properties": {"item_id": {}, "reasoning": {}, "influences": {}}})
        'JudgedReasoningOutput'
    """
    props = schema.get("properties", {})
    if schema.get("title"):
        return str(schema["title"])
    if "features" in props:
        aware = "factors" in props["features"].get("items", {}).get("properties", {})
        return "FactorAwareFeatures" if aware else "ExtractedFeatures"
    rest = set(props) - {"item_id", "reasoning"}
    if "reasoning" not in props or rest not in ({"influences"}, set()):
        return ""
    return "JudgedReasoningOutput" if rest else "ReasoningOutput"


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
        return {
            "assignments": [
                {"feature": f"F{n}", "feature_name": line.split(":")[0], "factor": f"C{pick(line)}"}
                for n, line in lines
            ]
        }
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
    tagged = re.findall(r"^- .*? \[(.*?)\]", human, flags=re.M)
    wanted = {name.strip().lower() for names in tagged for name in names.split(",")}
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


def _demo_generation(human: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The demo's prediction: the answer of the exemplar closest to the new input, else the best-ranked one.

    Closest: most shared word stems. Otherwise the exemplars' answers are ranked by how many exemplars
    give them, then by the new input's factor statistics, then in answer order.
    """
    key = next(k for k in schema.get("properties", {}) if k != "reasoning")
    enum = schema["properties"][key].get("enum")
    allowed = [str(v) for v in enum] if enum else None
    query = (_fenced(human, "input") or [human])[-1]
    shown = [(text, answer) for text, answer in _exemplars(human) if allowed is None or answer in allowed]
    scores = [len(_stem_set(query) & _stem_set(text)) for text, _ in shown]
    if shown and max(scores) > 0:
        best = scores.index(max(scores))
        answer, why = shown[best][1], f"the new input is closest to exemplar {best + 1}"
    elif shown:
        votes = Counter(a for _, a in shown)
        factors = {k.lower(): v for k, v in _propensity_votes(human, (_fenced(human, "features") or [""])[-1]).items()}
        order = allowed or list(votes)
        answer = max(votes, key=lambda a: (votes[a], factors.get(a.lower(), 0.0), -order.index(a)))
        why = "the exemplars and the factor statistics point that way"
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
        hits = [bool(_stem_set(name) & _stem_set(answer)) for name, _ in parsed]
        reply["influences"] = [
            {"feature_index": i, "influenced": hit, "evaluation": "pos" if hit else "neu"} for i, hit in enumerate(hits)
        ]
    return reply


def demo_responder(messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
    """Reply to any RPM or baseline prompt, deterministically, from the prompt text and the tool's schema."""
    system = str(messages[0].content) if messages else ""
    human = "\n".join(str(m.content) for m in messages[1:])
    props = schema.get("properties", {})
    title = schema_title(schema)
    if title == "PersonalizedAnswer":
        return _demo_generation(human, schema)
    if title in ("ReasoningOutput", "JudgedReasoningOutput"):
        return _demo_reasoning(human, judged=title == "JudgedReasoningOutput")
    offline = _demo_offline(title, system, human, schema)
    if offline is not None:
        return offline
    if "answer" in props:  # the baselines' DirectAnswer / GeneratedAnswer
        answer = _answer(system, human)
        reply: dict[str, Any] = {"answer": answer}
        if "reasoning" in props:
            reply["reasoning"] = f"Weighing the input against what I know, I answer {answer}."
        return reply
    return cast(dict[str, Any], fill_schema(schema, human))


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
