"""The configured parts RPM runs with: chat model, task, store, settings, and the stages built on them.

The facade, the graphs, the retriever, the tool and the middleware all take one
:class:`RPMComponents`, so one configuration drives every entry point.

Example:
    >>> import tempfile
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_rpm.store import RPMStore, as_rpm_store
    >>> from langchain_rpm.testing import demo_chat_model
    >>> parts = RPMComponents.create(demo_chat_model(), "lamp3", preset="paper",
    ...     store=RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8)))
    >>> parts.task.name, parts.settings.k
    ('lamp3', 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from langchain_core.language_models import BaseChatModel
from langgraph.store.base import BaseStore

from langchain_rpm._plans import CallLimiter
from langchain_rpm.errors import ConfigurationError
from langchain_rpm.models import at_temperature_zero, model_name, resolve_chat_model
from langchain_rpm.settings import RPMSettings
from langchain_rpm.stages import (
    FactorAggregator,
    FeatureExtractor,
    FeatureJudge,
    ReasoningGenerator,
    ReasoningPathBuilder,
)
from langchain_rpm.store import RPMStore, as_rpm_store
from langchain_rpm.tasks import TaskKind, TaskSpec, get_task


@dataclass
class RPMComponents:
    """One configuration: the models, task, store and settings, and the stages built on them.

    ``build_llm`` writes the memory (features, factors, reasoning paths); ``llm`` answers queries.
    They are the same model unless ``build_model=`` says otherwise (the paper's "build cheap,
    answer strong", Table 10). ``judge`` runs only for open-ended tasks with ``settings.judge ==
    "separate"``; otherwise the reasoning stage judges the features in its own call.
    """

    @property
    def separate_judge(self) -> bool:
        """Whether builds make one judge call per history item (open-ended tasks, ``judge="separate"``)."""
        if self.task.kind is TaskKind.MULTIPLE_CHOICE:  # label-free statistics (App. E.5): never folded
            return self.settings.option_statistics == "judge"
        return self.task.kind is TaskKind.OPEN_ENDED and self.settings.judge == "separate"

    llm: BaseChatModel
    build_llm: BaseChatModel
    task: TaskSpec
    store: RPMStore
    settings: RPMSettings
    limiter: CallLimiter
    extractor: FeatureExtractor
    query_extractor: FeatureExtractor
    aggregator: FactorAggregator
    judge: FeatureJudge
    reasoner: ReasoningPathBuilder
    generator: ReasoningGenerator

    @property
    def model_name(self) -> str:
        """Name of the answering model."""
        return model_name(self.llm)

    @property
    def build_model_name(self) -> str:
        """Name of the model that builds profiles."""
        return model_name(self.build_llm)

    @classmethod
    def create(
        cls,
        llm: BaseChatModel | str | None = None,
        task: TaskSpec | str = "lamp2",
        *,
        store: RPMStore | BaseStore | None = None,
        preset: str = "default",
        build_model: BaseChatModel | str | None = None,
        method: str | None = None,
        max_concurrency: int = 8,
        **settings: Any,
    ) -> RPMComponents:
        """Build every stage from one configuration.

        Args:
            llm: A chat model or a model name (see :func:`~langchain_rpm.models.resolve_chat_model`;
                default ``gpt-4o-mini``).
            task: A :class:`TaskSpec` or a preset name (``lamp2``, ``lamp3``, ``lamp5``, ``goqa``).
            store: An :class:`RPMStore` or a LangGraph ``BaseStore`` (default: the graph's store in graph runs,
                else the embedded store; :meth:`RPMStore.from_graph`).
            preset: ``"default"`` or ``"paper"`` (see :mod:`langchain_rpm.settings`).
            build_model: Another model for profile builds (default: ``llm``).
            method: Structured-output method (``function_calling`` for local llama.cpp servers).
            max_concurrency: Most LLM calls in flight at once across every stage and user.
            **settings: Overrides of :class:`~langchain_rpm.settings.RPMSettings` fields (``k=``, ...).
        """
        chosen = RPMSettings.for_preset(preset, **settings)
        chat = resolve_chat_model(llm)
        builder = chat if build_model is None else resolve_chat_model(build_model)
        if chosen.preset == "paper":  # temperature 0 for every call, model objects included
            same = builder is chat
            chat = at_temperature_zero(chat)
            builder = chat if same else at_temperature_zero(builder)
        spec = get_task(task)
        limiter = CallLimiter(max_concurrency)
        common: dict[str, Any] = {"method": method, "max_retries": chosen.max_retries, "limiter": limiter}
        return cls(
            llm=chat,
            build_llm=builder,
            task=spec,
            store=as_rpm_store(store),
            settings=chosen,
            limiter=limiter,
            extractor=FeatureExtractor(builder, spec, show_answer=chosen.show_answer, **common),
            query_extractor=FeatureExtractor(chat, spec, stage="query_extract", **common),
            aggregator=FactorAggregator(builder, spec, settings=chosen, **common),
            judge=FeatureJudge(builder, spec, **common),
            reasoner=ReasoningPathBuilder(
                builder, spec, fold_judge=chosen.judge == "in_reasoning", leak_retries=chosen.leak_retries, **common
            ),
            generator=ReasoningGenerator(chat, spec, **common),
        )


class HasComponents(Protocol):
    """Anything that carries its components, like the ``RPM`` facade (named here without importing it)."""

    @property
    def components(self) -> RPMComponents:
        """The configuration it runs with."""
        ...


def as_components(rpm_or_components: HasComponents | RPMComponents) -> RPMComponents:
    """The :class:`RPMComponents` of an ``RPM`` facade, or the components themselves."""
    if isinstance(rpm_or_components, RPMComponents):
        return rpm_or_components
    parts = getattr(rpm_or_components, "components", None)
    if isinstance(parts, RPMComponents):
        return parts
    raise ConfigurationError(f"expected an RPM or RPMComponents, got {type(rpm_or_components).__name__}")
