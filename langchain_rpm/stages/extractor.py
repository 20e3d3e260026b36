"""Stage 1 and 6: feature extraction, history mode and factor-aware mode (DESIGN §2 steps 1 and 6).

*History mode* (no ``factors``) sees the input only and returns every relevant feature as
``(name, context)``; its factor is filled later by Propose-Assign-Select. *Factor-aware mode* (a new
query, or the new items of an update) also sees the user's factors: the output schema's ``factors``
field per feature is an enum of the user's factor names, so a model cannot invent one. A feature may
carry several factors (``factor`` is the first, ``extra_factors`` the rest). A feature that fits none
is *soft-assigned* to the closest factor (:func:`~langchain_rpm.stages.clustering.closest_factor`) and
marked ``soft_assigned``; updates count those to decide when to re-cluster.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from langchain_rpm._plans import CallLimiter, Plan
from langchain_rpm._process_caches import hold
from langchain_rpm.errors import StructuredOutputError
from langchain_rpm.prompts import (
    COPIED_EXAMPLE_FEEDBACK,
    EXTRACTION_ITEM,
    FACTOR_AWARE_GUIDANCE,
    FEATURE_EXTRACTION,
    HISTORY_GUIDANCE,
    NO_FEATURE_FEEDBACK,
    PACKED_FEATURE_EXTRACTION,
    ExtractedFeatures,
    PackedFeatures,
    answer_block,
    factor_aware_schemas,
    render_factor_members,
    render_input,
    render_pack,
)
from langchain_rpm.prompts.schemas import is_word_name
from langchain_rpm.stages._packing import PackableStage
from langchain_rpm.stages.base import StructuredCaller, render_prompt
from langchain_rpm.stages.clustering import closest_factor, factor_vocabularies
from langchain_rpm.tasks import TaskSpec
from langchain_rpm.types import Factor, Feature, HistoryItem

_CALLER_CACHE_SIZE = 64
"""Factor sets whose bound schemas an extractor keeps (one per user seen recently)."""


class ExtractionInput(BaseModel):
    """What the extractor reads: an input text, optionally its options, known answer and the user's factors.

    With a non-empty ``factors`` list the extractor runs in factor-aware mode.
    """

    text: str
    options: list[str] | None = None
    answer: str | None = None
    factors: list[Factor] | None = None


class FeatureExtractor(PackableStage[ExtractionInput, list[Feature], Any]):
    """Lists every response-influential feature of one input with the LLM (or of a pack of inputs).

    Args:
        llm: Any chat model with structured output.
        task: The task spec (its instruction and answer format describe the task domain).
        method: Structured-output method passed to ``with_structured_output``.
        show_answer: Show the user's known answer to the extractor in history mode (off, as in the paper).
        max_retries: Retries for replies that fail the schema.
        limiter: Shared bound on concurrent LLM calls.
        stage: The name of its calls in cost accounting (``extract``; ``query_extract`` for queries).

    Inputs: an :class:`ExtractionInput`, a dict of its fields, a :class:`HistoryItem`, or a plain string.
    Output: a list of :class:`Feature` (names stripped and de-duplicated). :meth:`invoke_pack` answers
    several inputs (sharing one ``factors`` list) with one call.

    Example:
        >>> from langchain_rpm import LAMP2
        >>> from langchain_rpm.testing import demo_chat_model
        >>> from langchain_rpm.types import Factor
        >>> extractor = FeatureExtractor(demo_chat_model(), LAMP2)
        >>> [f.name for f in extractor.invoke("A crew of astronauts fights a rogue AI on a space station.")]
        ['astronauts', 'station', 'fights', 'rogue']
        >>> aware = extractor.invoke({"text": "Astronauts sing opera.",
        ...                           "factors": [Factor(name="Science", features=["astronauts"])]})
        >>> [(f.name, f.factor, f.soft_assigned) for f in aware]
        [('astronauts', 'Science', False), ('opera', 'Science', True), ('sing', 'Science', True)]
    """

    input_model = ExtractionInput
    output_type = list[Feature]

    def __init__(
        self,
        llm: BaseChatModel,
        task: TaskSpec,
        *,
        method: str | None = None,
        show_answer: bool = False,
        max_retries: int = 2,
        limiter: CallLimiter | None = None,
        stage: str = "extract",
    ) -> None:
        """Configure the extractor."""
        self.task = task
        self.show_answer = show_answer
        self._options: dict[str, Any] = {
            "stage": stage,
            "method": method,
            "max_retries": max_retries,
            "limiter": limiter,
        }
        self._set_callers(llm, ExtractedFeatures, PackedFeatures, **self._options)
        self._llm = llm
        self._lock = threading.Lock()
        self._aware: OrderedDict[tuple[str, ...], dict[bool, StructuredCaller[Any]]] = OrderedDict()
        hold(self)  # keyed by a user's factor names: emptied at every forget

    def empty_caches(self, user_id: str) -> None:
        """Drop every factor-aware caller (keyed by factor names, not by user; a forget calls this)."""
        with self._lock:
            self._aware.clear()

    def coerce(self, value: Any) -> ExtractionInput:
        """Also accept a plain string or a :class:`HistoryItem`."""
        if isinstance(value, str):
            return ExtractionInput(text=value)
        if isinstance(value, HistoryItem):
            return ExtractionInput(
                text=value.input, options=value.options, answer=value.response if self.show_answer else None
            )
        return super().coerce(value)

    def prompt(self, request: ExtractionInput | Any) -> PromptValue:
        """The exact prompt sent for ``request`` (useful for auditing)."""
        request = self.coerce(request)
        return render_prompt(FEATURE_EXTRACTION, **self._frame(request.factors, request.options), **self._item(request))

    def pack_prompt(self, requests: Sequence[ExtractionInput]) -> PromptValue:
        """The exact prompt sent for a pack of requests (which must share their ``factors``)."""
        factors = self._shared_factors(requests)
        items = render_pack([EXTRACTION_ITEM.format(**self._item(r)) for r in requests])
        return render_prompt(PACKED_FEATURE_EXTRACTION, **self._frame(factors, None), count=len(requests), items=items)

    def caller_for(self, request: ExtractionInput) -> StructuredCaller[Any]:
        """History mode: the fixed schema; factor-aware mode: the schema whose enum is the user's factors."""
        return self._aware_caller(request.factors, packed=False) if request.factors else self.caller

    def pack_caller_for(self, requests: Sequence[ExtractionInput]) -> StructuredCaller[Any]:
        """The packed caller for ``requests`` (their shared factors decide the schema)."""
        factors = self._shared_factors(requests)
        return self._aware_caller(factors, packed=True) if factors else self._pack_caller

    def _aware_caller(self, factors: Sequence[Factor], *, packed: bool) -> StructuredCaller[Any]:
        """The factor-aware caller for this factor set, bound once and kept for the most recent sets."""
        names = tuple(dict.fromkeys(f.name for f in factors))
        with self._lock:  # batch() calls from several threads
            entry = self._aware.setdefault(names, {})
            self._aware.move_to_end(names)
            while len(self._aware) > _CALLER_CACHE_SIZE:
                self._aware.popitem(last=False)
            if packed not in entry:
                schema = factor_aware_schemas(names)[1 if packed else 0]
                entry[packed] = StructuredCaller(self._llm, schema, **self._options)
            return entry[packed]

    @staticmethod
    def _shared_factors(requests: Sequence[ExtractionInput]) -> list[Factor] | None:
        factors = requests[0].factors
        if any(r.factors is not factors and r.factors != factors for r in requests[1:]):
            raise ValueError("the inputs of one pack must share the same factors")
        return factors

    def _frame(self, factors: list[Factor] | None, options: list[str] | None) -> dict[str, str]:
        """The system-prompt variables (shared by every item of a pack)."""
        guidance = HISTORY_GUIDANCE
        if factors:
            guidance = FACTOR_AWARE_GUIDANCE.format(factors=render_factor_members(factors))
        example_name, example_context = self.task.worked_example
        return {
            "domain": self.task.domain_text,
            "respondent": self.task.respondent,
            "example_name": example_name,
            "example_context": example_context,
            "input_description": self.task.input_description,
            "factor_guidance": guidance,
        }

    def _item(self, request: ExtractionInput) -> dict[str, str]:
        return {
            "fenced_input": render_input(request.text, request.options),
            "answer_block": answer_block(self.task, request.answer),
        }

    def copied(self, features: Sequence[Feature]) -> list[Feature]:
        """The features that copy the prompt's worked example instead of describing the input."""
        name, context = (_words(text) for text in self.task.worked_example)
        return [
            f
            for f in features
            if context in (_words(f.context), _words(f.name)) or (_words(f.name) == name and not f.context.strip())
        ]

    def revise(self, request: ExtractionInput, output: list[Feature], config: RunnableConfig) -> Plan[list[Feature]]:
        """A reply whose features copy the worked example, or that leaves none usable, gets one retry with feedback.

        Copies still there after it are dropped; the list may come back empty (a build fails that item).
        """
        copied = self.copied(output)
        if output and not copied:
            return output
        listed = "; ".join(f"{f.name}: {f.context}" for f in copied)
        feedback = COPIED_EXAMPLE_FEEDBACK.format(copied=listed) if copied else NO_FEATURE_FEEDBACK
        messages = [*self.prompt(request).to_messages(), HumanMessage(feedback)]
        try:
            reply = yield from self.caller_for(request).plan(messages, config)
        except StructuredOutputError:
            reply = None
        retried = self.result(request, reply) if reply is not None else output
        bad = self.copied(retried)
        return [f for f in retried if f not in bad]

    def result(self, request: ExtractionInput, reply: Any) -> list[Feature]:
        """The cleaned features of one reply (factor-aware: with their factors, unfit ones soft-assigned)."""
        seen: set[str] = set()
        features = []
        vocabularies: list[set[str]] = []  # the factors' stems, computed at the first feature that fits none
        for extracted in reply.features:
            name = " ".join(extracted.feature_name.split())
            if not is_word_name(name) or name.lower() in seen:
                continue
            seen.add(name.lower())
            feature = Feature(name=name, context=" ".join(extracted.context.split()))
            if request.factors:
                chosen = list(getattr(extracted, "factors", []))
                feature = _with_factors(feature, chosen, request.factors, vocabularies)
            features.append(feature)
        return features


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _with_factors(
    feature: Feature, chosen: list[str], factors: Sequence[Factor], vocabularies: list[set[str]]
) -> Feature:
    """``feature`` with the factors the model chose, or else the closest one (soft-assigned).

    ``vocabularies``: the factors' stems, shared by the features of one reply (filled here when first needed).
    """
    known = {f.name for f in factors}
    names = [name for name in dict.fromkeys(chosen) if name in known]
    if names:
        return feature.model_copy(update={"factor": names[0], "extra_factors": tuple(names[1:])})
    if len(factors) > 1 and not vocabularies:
        vocabularies.extend(factor_vocabularies(factors))
    closest = closest_factor(feature, factors, vocabularies or None)
    return feature.model_copy(update={"factor": closest, "soft_assigned": True})
