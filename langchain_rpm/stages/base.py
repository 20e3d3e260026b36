"""What every RPM stage shares: the runnable base class and the structured model call.

A stage is a LangChain ``Runnable`` whose work is one :mod:`plan <langchain_rpm._plans>`
(:meth:`RPMStage.plan`): ``invoke`` runs it blocking, ``ainvoke`` on the event loop, and
``batch``/``abatch`` (inherited) run several inputs under ``config["max_concurrency"]``. Inputs are
pydantic models (dicts are coerced), so ``input_schema``, ``output_schema`` and ``as_tool()`` work
like on any LCEL runnable.

:class:`StructuredCaller` asks a chat model for one pydantic schema. A reply that arrives but does
not fit is retried with the error fed back (and evicted from an LLM cache that reports its entries,
:mod:`langchain_rpm._cache_watch`); a body cut mid-JSON is re-sent; transport faults stay with the
model client's own retries (``ChatOpenAI(max_retries=...)``).

Example:
    >>> from pydantic import BaseModel
    >>> from langchain_rpm._plans import run
    >>> from langchain_rpm.testing import FakeStructuredChatModel
    >>> class Answer(BaseModel):
    ...     answer: str
    >>> caller = StructuredCaller(FakeStructuredChatModel(responder=lambda m, s: {"answer": "42"}), Answer)
    >>> run(caller.plan([("human", "What is the answer?")]))
    Answer(answer='42')
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar, cast

from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, convert_to_messages
from langchain_core.output_parsers import BaseOutputParser
from langchain_core.outputs import ChatGeneration
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable, RunnableBinding, RunnableConfig, RunnableSequence
from langchain_core.utils.function_calling import convert_to_json_schema
from pydantic import BaseModel, ValidationError

from langchain_rpm._cache_watch import Watched, evict
from langchain_rpm._plans import CallLimiter, Invoke, Plan, arun, run
from langchain_rpm.errors import InvalidHistoryError, StructuredOutputError
from langchain_rpm.prompts import RETRY_ON_INVALID
from langchain_rpm.usage import stage_config

InputT = TypeVar("InputT", bound=BaseModel)
OutputT = TypeVar("OutputT")
SchemaT = TypeVar("SchemaT", bound=BaseModel)

PARSE_ERRORS = (OutputParserException, ValidationError)
"""A reply arrived but does not fit the schema: retried with the error fed back."""

StructuredMethod = str | None
"""``"json_schema"``, ``"function_calling"``, ``"json_mode"``, or ``None`` for the provider's default."""


class StructuredCaller(Generic[SchemaT]):
    """Calls a chat model for one pydantic schema, as a plan; invalid replies are retried with the error.

    Args:
        llm: Any chat model that supports ``with_structured_output``.
        schema: The pydantic model the reply must fill.
        stage: The RPM stage the calls belong to (recorded in run metadata for cost accounting).
        method: Structured-output method; local llama.cpp servers need ``"function_calling"``.
        max_retries: How many times a reply that fails the schema is retried.
        limiter: Shared bound on concurrent calls.
    """

    def __init__(
        self,
        llm: BaseChatModel,
        schema: type[SchemaT],
        *,
        stage: str = "other",
        method: StructuredMethod = None,
        max_retries: int = 2,
        limiter: CallLimiter | None = None,
    ) -> None:
        """Bind the model to ``schema`` once (binding converts the schema, which costs CPU per bind)."""
        kwargs: dict[str, Any] = {"method": method} if method is not None else {}
        self.llm = llm
        self.schema = schema
        self.stage = stage
        self.method = method
        self.max_retries = max_retries
        self.limiter = limiter
        self.model, self.parser = _split(llm.with_structured_output(schema, **kwargs), schema)

    def plan(self, prompt: PromptValue | Sequence[Any], config: RunnableConfig | None = None) -> Plan[SchemaT]:
        """Call the model (through the limiter) and return a validated ``schema`` instance.

        Only the model call is a traced run; its reply is parsed here (no thread hop, no second run).
        ``with_structured_output(include_raw=True)`` would hand back reply and parse error without
        splitting, but its two ``RunnableParallel`` steps start a thread pool per call: measured 8-12x
        our CPU per call and 2.5x the async wall at 100 ms per call (``benchmarks/structured_output.py``).
        A body cut mid-JSON (``JSONDecodeError``, which the OpenAI client does not retry) is re-sent
        as it was; transport errors stay with the client's own retries.
        """
        first = _messages(prompt)
        messages, error = first, ""
        traced = stage_config(config, self.stage)
        for _ in range(self.max_retries + 1):
            call = Watched(Invoke(self.model, messages, traced, self.limiter))
            try:
                message = yield call
                reply = self._parse(message)
            except json.JSONDecodeError as exc:
                error = _short(exc)
                continue
            except PARSE_ERRORS as exc:
                parsed, error = None, _short(exc)
            else:
                parsed, error = self._check(reply)
            if parsed is not None:
                return parsed
            evict(call.uses)  # a cached invalid reply would fail every later retry of the build the same way
            messages = [*first, HumanMessage(RETRY_ON_INVALID.format(error=error))]
        raise StructuredOutputError(
            f"{self.schema.__name__}: no valid reply after {self.max_retries + 1} tries: {error}"
        )

    def _parse(self, message: Any) -> Any:
        if isinstance(self.parser, BaseOutputParser):
            return self.parser.parse_result([ChatGeneration(message=message)])
        # CPU-only steps after the model: not traced as runs of their own (the model call is)
        return message if self.parser is None else self.parser.invoke(message, {"callbacks": []})

    def _check(self, reply: Any) -> tuple[SchemaT | None, str]:
        if isinstance(reply, self.schema):
            return reply, ""
        if isinstance(reply, dict):
            try:
                return self.schema.model_validate(reply), ""
            except ValidationError as exc:
                return None, _short(exc)
        return None, "the reply did not call the tool with the required arguments"


def _split(structured: Runnable[Any, Any], schema: type[BaseModel]) -> tuple[Runnable[Any, Any], Any]:
    """``model | parser...`` as the model and the rest, with the tracing copy of the schema converted once.

    A provider whose ``with_structured_output`` is not a sequence is called whole.
    """
    if not isinstance(structured, RunnableSequence):
        return structured, None
    model, *rest = structured.steps  # ChatOpenAI: model | refusal check | parser
    parser = rest[0] if len(rest) == 1 else RunnableSequence(*rest)
    described = model.kwargs.get(_LS_FORMAT) if isinstance(model, RunnableBinding) else None
    if isinstance(described, dict) and described.get("schema") is schema:
        model = model.bind(**{_LS_FORMAT: {**described, "schema": convert_to_json_schema(schema)}})
    return model, parser


_LS_FORMAT = "ls_structured_output_format"


def _messages(prompt: PromptValue | Sequence[Any]) -> list[BaseMessage]:
    return prompt.to_messages() if isinstance(prompt, PromptValue) else convert_to_messages(list(prompt))


def _short(error: object, limit: int = 600) -> str:
    text = str(error)
    return text if len(text) <= limit else text[:limit] + "..."


class RPMStage(Runnable[InputT, OutputT], Generic[InputT, OutputT]):
    """A runnable RPM stage: one plan, run sync or async, over a pydantic input model.

    Subclasses set ``input_model`` and ``output_type`` and implement :meth:`plan`; they may
    override :meth:`coerce` to accept shortcuts (a plain string, a history item).
    """

    input_model: ClassVar[type[BaseModel]]
    output_type: ClassVar[Any]

    @property
    def InputType(self) -> type[InputT]:
        """The pydantic input model (what ``input_schema`` and ``as_tool()`` describe)."""
        return cast(type[InputT], self.input_model)

    @property
    def OutputType(self) -> Any:
        """The output type (what ``output_schema`` describes)."""
        return self.output_type

    def coerce(self, value: Any) -> InputT:
        """Turn ``value`` (the input model or a dict of its fields) into the input model."""
        if isinstance(value, self.input_model):
            return cast(InputT, value)
        try:
            return cast(InputT, self.input_model.model_validate(value))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors()[:3]
            )
            raise InvalidHistoryError(f"{self.get_name()}: invalid input: {problems}") from None

    @abstractmethod
    def plan(self, input: InputT, config: RunnableConfig) -> Plan[OutputT]:
        """The stage's work for one input, as a plan."""

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> OutputT:
        """Run the stage on one input (blocking)."""

        def go(request: InputT, run_manager: Any, config: RunnableConfig) -> OutputT:
            return run(self.plan(request, config))

        return self._call_with_config(go, self.coerce(input), config)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> OutputT:
        """Run the stage on one input (async)."""

        async def go(request: InputT, run_manager: Any, config: RunnableConfig) -> OutputT:
            return await arun(self.plan(request, config))

        return await self._acall_with_config(go, self.coerce(input), config)
