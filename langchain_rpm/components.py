"""The set of configured RPM stages a graph or the facade runs with.

Example:
    >>> import tempfile
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_rpm.store import RPMStore
    >>> from langchain_rpm.testing import FakeStructuredChatModel
    >>> parts = RPMComponents.create(FakeStructuredChatModel(), "lamp3",
    ...     store=RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8)))
    >>> parts.task.name
    'lamp3'
"""

from __future__ import annotations

from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel

from langchain_rpm.aggregator import FactorAggregator
from langchain_rpm.extractor import FeatureExtractor
from langchain_rpm.generator import ReasoningGenerator
from langchain_rpm.llm import CallLimiter, model_name, resolve_chat_model
from langchain_rpm.reasoning import ReasoningPathBuilder
from langchain_rpm.retriever import FeatureRetriever
from langchain_rpm.store import RPMStore
from langchain_rpm.tasks import TaskSpec, get_task


@dataclass
class RPMComponents:
    """One chat model, task and store, and the five stages built on them.

    ``pack_size`` is how many history items share one extraction call and one reasoning call in a
    profile build (1, the default, is the paper's one call per item).
    """

    llm: BaseChatModel
    task: TaskSpec
    store: RPMStore
    extractor: FeatureExtractor
    aggregator: FactorAggregator
    reasoner: ReasoningPathBuilder
    retriever: FeatureRetriever
    generator: ReasoningGenerator
    pack_size: int = 1

    def __post_init__(self) -> None:
        if self.pack_size < 1:
            raise ValueError("pack_size must be at least 1")

    @property
    def model_name(self) -> str:
        """Name of the chat model, recorded in profiles."""
        return model_name(self.llm)

    @classmethod
    def create(
        cls,
        llm: BaseChatModel | str | None = None,
        task: TaskSpec | str = "lamp2",
        *,
        store: RPMStore | None = None,
        method: str | None = None,
        k: int = 4,
        chunk_size: int = 150,
        max_factors: int = 10,
        show_answer: bool = False,
        max_retries: int = 2,
        max_concurrency: int | None = None,
        pack_size: int = 1,
    ) -> RPMComponents:
        """Build every stage from one configuration.

        Args:
            llm: A chat model or a model name (default ``gpt-4o-mini``).
            task: A :class:`TaskSpec` or a preset name (``lamp2``, ``lamp3``, ``lamp5``, ``goqa``).
            store: The example store (default: the embedded store with local embeddings).
            method: Structured-output method (``function_calling`` for local llama.cpp servers).
            k: Examples retrieved per query.
            chunk_size: Most features clustered in one LLM call.
            max_factors: Upper bound on factors per user.
            show_answer: Show the known answer to the history-mode feature extractor.
            max_retries: Retries of replies that fail the output schema.
            max_concurrency: Most LLM calls in flight at once across all stages and users that
                use these components (``None``: unbounded here; LangGraph's per-run bound applies).
            pack_size: History items per extraction call and per reasoning call in profile builds
                (1: one item per call, as in the paper). Larger packs send fewer calls and fewer
                prompt tokens per item (the instructions are shared), but the items share one
                context, so check quality on your model before relying on it. An item a packed
                reply leaves out is retried alone.

        Example:
            >>> import tempfile
            >>> from langchain_core.embeddings import DeterministicFakeEmbedding
            >>> from langchain_rpm.testing import FakeStructuredChatModel
            >>> store = RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8))
            >>> RPMComponents.create(FakeStructuredChatModel(), "lamp2", store=store, pack_size=4).pack_size
            4
        """
        chat = resolve_chat_model(llm)
        spec = get_task(task)
        store = store if store is not None else RPMStore()
        limiter = CallLimiter(max_concurrency) if max_concurrency else None
        common = {"method": method, "max_retries": max_retries, "limiter": limiter}
        return cls(
            llm=chat,
            task=spec,
            store=store,
            extractor=FeatureExtractor(chat, spec, show_answer=show_answer, **common),  # type: ignore[arg-type]
            aggregator=FactorAggregator(chat, spec, chunk_size=chunk_size, max_factors=max_factors, **common),  # type: ignore[arg-type]
            reasoner=ReasoningPathBuilder(chat, spec, **common),  # type: ignore[arg-type]
            retriever=FeatureRetriever(store, k=k),
            generator=ReasoningGenerator(chat, spec, **common),  # type: ignore[arg-type]
            pack_size=pack_size,
        )
