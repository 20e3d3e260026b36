"""``RPMRetriever``: a drop-in LangChain retriever of one user's reasoning examples.

Give it a query string; it returns the user's most relevant history items as ``Document``s, each with
the user's reasoning and answer, ready for any chain (``retriever | format_docs | llm``).

Two modes:

- ``"features"`` (default, the RPM way): the LLM extracts the query's response-influential features in
  factor-aware mode (with the user's stored factors), and the examples are ranked by the similarity of
  their features. One LLM call per query; it matches *decision structure*.
- ``"query_text"``: no LLM; the raw query text is embedded and compared with the examples' feature
  text. Cheaper and faster, but weaker: it matches topic words, not the features that drove the
  user's answers.

Which user: ``invoke(query, user_id=...)`` wins; else the run's user, from the LangGraph run context
(``context=RPMContext(user_id=...)``, inside a graph) or ``config["configurable"]["user_id"]``; else the
``user_id`` the retriever was built with. So one retriever can serve many users in a chain.

Example:
    >>> import tempfile
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_rpm import RPM, RPMStore
    >>> from langchain_rpm.testing import FakeStructuredChatModel
    >>> rpm = RPM(FakeStructuredChatModel(), task="lamp3",
    ...           store=RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8)))
    >>> _ = rpm.build_user("ada", [{"id": "1", "input": "Arrived broken.", "response": "1"},
    ...                            {"id": "2", "input": "Sturdy and fast.", "response": "5"}])
    >>> retriever = RPMRetriever.from_rpm(rpm, user_id="ada", k=1)
    >>> docs = retriever.invoke("Solid build, slow shipping.")
    >>> len(docs), sorted(docs[0].metadata)
    (1, ['answer', 'factors', 'features', 'item_id', 'reasoning', 'score', 'user_id'])
    >>> len(retriever.invoke("Solid build.", k=2, mode="query_text"))
    2
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever, LangSmithRetrieverParams
from langchain_core.runnables import RunnableConfig
from pydantic import Field, model_validator

from langchain_rpm.components import RPMComponents
from langchain_rpm.context import MissingUserIdError, resolve_user_id
from langchain_rpm.extractor import FeatureExtractor
from langchain_rpm.inference_graph import require_profile
from langchain_rpm.store import RPMStore, example_id, features_text
from langchain_rpm.types import Feature, RetrievedExample, UserProfile

if TYPE_CHECKING:
    from langchain_rpm.facade import RPM

Mode = Literal["features", "query_text"]


def render_example(hit: RetrievedExample) -> str:
    """The readable text of a retrieved example: input, features, the user's reasoning, the answer.

    Example:
        >>> from langchain_rpm.types import ReasoningExample
        >>> ex = ReasoningExample(item_id="1", input="A space opera.", reasoning="I like space.",
        ...                       features=[Feature(name="space", factor="Setting")], answer="sci-fi")
        >>> print(render_example(RetrievedExample(example=ex, score=0.9)))
        Input: A space opera.
        Features: space [Setting]
        Reasoning: I like space.
        Answer: sci-fi
    """
    ex = hit.example
    features = "; ".join(f"{f.name} [{f.factor}]" if f.factor else f.name for f in ex.features)
    return f"Input: {ex.input}\nFeatures: {features or '-'}\nReasoning: {ex.reasoning}\nAnswer: {ex.answer}"


def _document(user_id: str, hit: RetrievedExample) -> Document:
    ex = hit.example
    return Document(
        id=example_id(user_id, ex.item_id),
        page_content=render_example(hit),
        metadata={
            "user_id": user_id,
            "item_id": ex.item_id,
            "answer": ex.answer,
            "reasoning": ex.reasoning,
            "features": [f.model_dump() for f in ex.features],
            "factors": list(dict.fromkeys(f.factor for f in ex.features if f.factor)),
            "score": hit.score,
        },
    )


def _graph_context() -> Any:
    """The LangGraph run context when called inside a graph node, else ``None``."""
    try:
        from langgraph.runtime import get_runtime

        return getattr(get_runtime(), "context", None)
    except (ImportError, RuntimeError, KeyError):
        return None


class RPMRetriever(BaseRetriever):
    """Retrieves a user's reasoning examples for a query (RPM stages 5 and 6) as ``Document``s.

    Args:
        store: The example store holding the user's profile and examples.
        extractor: The feature extractor (needed in ``"features"`` mode).
        user_id: Default user; overridden per call (see the module docs).
        k: Documents returned; ``invoke(query, k=2)`` overrides it per call.
        mode: ``"features"`` (LLM feature extraction, the default) or ``"query_text"`` (no LLM, weaker).
        on_unknown_user: In ``"features"`` mode a user without a profile raises
            :class:`~langchain_rpm.UnknownUserError` (``"raise"``) or gets no documents (``"empty"``).

    Each ``Document`` has ``page_content`` from :func:`render_example` and metadata ``answer``,
    ``reasoning``, ``features`` (dicts), ``factors`` (names), ``item_id``, ``score`` (cosine) and ``user_id``.

    Example:
        >>> retriever = RPMRetriever.from_rpm(rpm, k=3)  # doctest: +SKIP
        >>> chain = retriever | format_docs | prompt | llm  # doctest: +SKIP
        >>> chain.invoke("A heist movie.", config={"configurable": {"user_id": "ada"}})  # doctest: +SKIP
    """

    store: RPMStore
    extractor: FeatureExtractor | None = None
    user_id: str | None = None
    k: int = Field(default=4, ge=0)
    mode: Mode = "features"
    on_unknown_user: Literal["raise", "empty"] = "raise"

    @model_validator(mode="after")
    def _needs_extractor(self) -> RPMRetriever:
        if self.mode == "features" and self.extractor is None:
            raise ValueError(
                "mode='features' needs an extractor (a FeatureExtractor); build the retriever with "
                "RPMRetriever.from_components(...), pass extractor=..., or use mode='query_text' (no LLM)"
            )
        return self

    @classmethod
    def from_components(
        cls, components: RPMComponents, *, user_id: str | None = None, k: int | None = None, **kwargs: Any
    ) -> RPMRetriever:
        """A retriever on the store and feature extractor of :class:`RPMComponents`.

        ``k`` defaults to the components' retrieval ``k``; other ``kwargs`` are fields (``mode``, ...).

        Example:
            >>> retriever = RPMRetriever.from_components(rpm.components, user_id="ada", k=3)  # doctest: +SKIP
        """
        default_k = components.retriever.k if k is None else k
        return cls(store=components.store, extractor=components.extractor, user_id=user_id, k=default_k, **kwargs)

    @classmethod
    def from_rpm(cls, rpm: RPM, *, user_id: str | None = None, k: int | None = None, **kwargs: Any) -> RPMRetriever:
        """A retriever on an :class:`~langchain_rpm.RPM` facade's store and extractor.

        Example:
            >>> retriever = RPMRetriever.from_rpm(rpm, user_id="ada", k=2)  # doctest: +SKIP
        """
        return cls.from_components(rpm.components, user_id=user_id, k=k, **kwargs)

    # -- per-call options --------------------------------------------------------------------------------
    def _with_run_user(self, config: RunnableConfig | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        if kwargs.get("user_id"):
            return kwargs
        try:
            return {**kwargs, "user_id": resolve_user_id(_graph_context(), config)}
        except MissingUserIdError:
            return kwargs

    def invoke(self, input: str, config: RunnableConfig | None = None, **kwargs: Any) -> list[Document]:
        """Documents for ``input``; per-call ``k=``, ``user_id=`` and ``mode=`` keyword arguments are honoured."""
        return super().invoke(input, config, **self._with_run_user(config, kwargs))

    async def ainvoke(self, input: str, config: RunnableConfig | None = None, **kwargs: Any) -> list[Document]:
        """Async :meth:`invoke`."""
        return await super().ainvoke(input, config, **self._with_run_user(config, kwargs))

    def _options(self, user_id: str | None, k: int | None, mode: Mode | None) -> tuple[str, int, Mode]:
        user = user_id or self.user_id
        if not user:
            raise MissingUserIdError(
                "RPMRetriever needs a user id: build it with user_id=..., call invoke(query, user_id=...), or "
                "pass config={'configurable': {'user_id': ...}} (or context=RPMContext(...) inside a graph)."
            )
        chosen = mode or self.mode
        if chosen == "features" and self.extractor is None:
            raise ValueError("mode='features' needs an extractor: build the retriever with from_components(...)")
        return user, self.k if k is None else k, chosen

    def _extraction(self, query: str, profile: UserProfile) -> dict[str, Any]:
        return {"text": query, "factors": profile.factors}

    def _profile_or_none(self, profile: UserProfile | None, user_id: str) -> UserProfile | None:
        if profile is None and self.on_unknown_user == "empty":
            return None
        return require_profile(profile, user_id)

    @staticmethod
    def _target(features: list[Feature], query: str) -> str:
        return features_text(features) if features else query

    def _get_ls_params(self, **kwargs: Any) -> LangSmithRetrieverParams:
        params = super()._get_ls_params(**kwargs)
        params["ls_vector_store_provider"] = "chroma"
        params["ls_embedding_model"] = self.store.embedding_model
        return params

    # -- retrieval ---------------------------------------------------------------------------------------
    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        user_id: str | None = None,
        k: int | None = None,
        mode: Mode | None = None,
    ) -> list[Document]:
        user, top_k, chosen = self._options(user_id, k, mode)
        target = query
        if chosen == "features" and top_k > 0:
            profile = self._profile_or_none(self.store.get_profile(user), user)
            if profile is None:
                return []
            extractor: FeatureExtractor = self.extractor  # type: ignore[assignment]
            features = extractor.invoke(self._extraction(query, profile), {"callbacks": run_manager.get_child()})
            target = self._target(features, query)
        return [_document(user, hit) for hit in self.store.search(user, target, top_k)]

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        user_id: str | None = None,
        k: int | None = None,
        mode: Mode | None = None,
    ) -> list[Document]:
        user, top_k, chosen = self._options(user_id, k, mode)
        target = query
        if chosen == "features" and top_k > 0:
            profile = self._profile_or_none(await self.store.aget_profile(user), user)
            if profile is None:
                return []
            extractor: FeatureExtractor = self.extractor  # type: ignore[assignment]
            config: RunnableConfig = {"callbacks": run_manager.get_child()}
            features = await extractor.ainvoke(self._extraction(query, profile), config)
            target = self._target(features, query)
        return [_document(user, hit) for hit in await self.store.asearch(user, target, top_k)]
