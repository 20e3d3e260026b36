"""``RPMRetriever``: a drop-in LangChain retriever of one user's reasoning examples.

Give it a query string; it returns the user's most relevant history items as ``Document``s, each with
the user's reasoning and answer, ready for any chain (``retriever | format_docs | llm``). It is a thin
adapter over :class:`~langchain_rpm.personalization.Personalizer`, so ``k`` and ``retrieval``
(``"features"``: the paper's feature-based retrieval, one LLM call; ``"query"``: embed the raw query,
no LLM call, weaker) mean what they mean everywhere else.

Which user: ``invoke(query, user_id=...)`` wins; else the run's user, from the LangGraph run context
(``context=RPMContext(user_id=...)``, inside a graph) or ``config["configurable"]["user_id"]``; else the
``user_id`` the retriever was built with. So one retriever can serve many users in a chain.

Example:
    >>> from langchain_rpm.testing import demo_rpm
    >>> rpm = demo_rpm()  # the offline demo model, a temporary store, user "ada" built
    >>> retriever = RPMRetriever.from_rpm(rpm, user_id="ada", k=1)
    >>> docs = retriever.invoke("Solid build, slow shipping.")
    >>> len(docs), sorted(docs[0].metadata)
    (1, ['answer', 'factors', 'features', 'item_id', 'reasoning', 'score', 'user_id'])
    >>> len(retriever.invoke("Solid build.", k=2, retrieval="query"))
    2
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever, LangSmithRetrieverParams
from langchain_core.runnables import RunnableConfig
from pydantic import Field, model_validator

from langchain_rpm._plans import Plan, arun, run
from langchain_rpm.components import RPMComponents, as_components
from langchain_rpm.errors import MissingUserIdError
from langchain_rpm.graphs.internal import internal_config
from langchain_rpm.graphs.state import resolve_user_id
from langchain_rpm.personalization import (
    OnUnknownUser,
    Personalizer,
    Retrieval,
    check_on_unknown_user,
    check_retrieval,
)
from langchain_rpm.store import example_id
from langchain_rpm.types import RetrievedExample

if TYPE_CHECKING:
    from langchain_rpm.rpm import RPM


def render_example(hit: RetrievedExample) -> str:
    """The readable text of a retrieved example: input, features, the user's reasoning, the answer.

    Example:
        >>> from langchain_rpm.types import Feature, ReasoningExample
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


def _internal(run_manager: CallbackManagerForRetrieverRun | AsyncCallbackManagerForRetrieverRun) -> RunnableConfig:
    """The retriever's child config: its model call traced under it, kept out of a host's ``messages`` stream."""
    return internal_config({"callbacks": run_manager.get_child()})


class RPMRetriever(BaseRetriever):
    r"""Retrieves a user's reasoning examples for a query (RPM steps 6-7) as ``Document``\ s.

    Args:
        components: The configured RPM parts (``RPMRetriever.from_rpm(rpm)`` takes a facade's).
        user_id: Default user; overridden per call (see the module docs).
        k: Documents returned (default: the components' ``k``); ``invoke(query, k=2)`` overrides it.
        retrieval: ``"features"`` (default) or ``"query"`` (no LLM call, weaker).
        on_unknown_user: A user without a profile gets no documents (``"empty"``, the default) or
            raises :class:`~langchain_rpm.errors.UnknownUserError` (``"raise"``); see the cold-start rule
            in :mod:`langchain_rpm.personalization`.

    Each ``Document`` has ``page_content`` from :func:`render_example` and metadata ``answer``,
    ``reasoning``, ``features`` (dicts), ``factors`` (names), ``item_id``, ``score`` (cosine) and ``user_id``.

    Example:
        >>> from langchain_rpm.testing import demo_rpm
        >>> retriever = RPMRetriever.from_rpm(demo_rpm(), k=2)  # then: retriever | format_docs | prompt | llm
        >>> docs = retriever.invoke("Broke in a day.", config={"configurable": {"user_id": "ada"}})
        >>> [doc.metadata["answer"] for doc in docs]
        ['3', '5']
    """

    components: RPMComponents
    user_id: str | None = None
    k: int | None = Field(default=None, ge=0)
    retrieval: Retrieval = "features"
    on_unknown_user: OnUnknownUser = "empty"

    @model_validator(mode="after")
    def _checked(self) -> RPMRetriever:
        check_retrieval(self.retrieval, self.k)
        check_on_unknown_user(self.on_unknown_user)
        return self

    @classmethod
    def from_rpm(cls, rpm: RPM | RPMComponents, **fields: Any) -> RPMRetriever:
        """A retriever on an :class:`~langchain_rpm.RPM` facade's (or components') store and extractor.

        Example:
            >>> retriever = RPMRetriever.from_rpm(rpm, user_id="ada", k=2)  # doctest: +SKIP
        """
        return cls(components=as_components(rpm), **fields)

    def invoke(self, input: str, config: RunnableConfig | None = None, **kwargs: Any) -> list[Document]:
        """Documents for ``input``; per-call ``k=``, ``user_id=`` and ``retrieval=`` are honoured."""
        return super().invoke(input, config, **self._with_run_user(config, kwargs))

    async def ainvoke(self, input: str, config: RunnableConfig | None = None, **kwargs: Any) -> list[Document]:
        """Async :meth:`invoke`."""
        return await super().ainvoke(input, config, **self._with_run_user(config, kwargs))

    def _with_run_user(self, config: RunnableConfig | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        if kwargs.get("user_id"):
            return kwargs
        try:
            return {**kwargs, "user_id": resolve_user_id(_graph_context(), config)}
        except MissingUserIdError:
            return kwargs

    def _get_ls_params(self, **kwargs: Any) -> LangSmithRetrieverParams:
        params = super()._get_ls_params(**kwargs)
        params["ls_vector_store_provider"] = "chroma"
        params["ls_embedding_model"] = self.components.store.embedding_model
        return params

    def _documents(
        self, query: str, config: RunnableConfig, user_id: str | None, k: int | None, retrieval: Retrieval | None
    ) -> Plan[list[Document]]:
        user = user_id or self.user_id
        if not user:
            raise MissingUserIdError(
                "RPMRetriever needs a user id: build it with user_id=..., call invoke(query, user_id=...), or "
                "pass config={'configurable': {'user_id': ...}} (or context=RPMContext(...) inside a graph)."
            )
        found = yield from Personalizer(self.components).plan(
            user,
            query,
            k=self.k if k is None else k,
            retrieval=retrieval or self.retrieval,
            required=self.on_unknown_user == "raise",
            config=config,
        )
        return [_document(user, hit) for hit in found.examples]

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        user_id: str | None = None,
        k: int | None = None,
        retrieval: Retrieval | None = None,
    ) -> list[Document]:
        return run(self._documents(query, _internal(run_manager), user_id, k, retrieval))

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        user_id: str | None = None,
        k: int | None = None,
        retrieval: Retrieval | None = None,
    ) -> list[Document]:
        return await arun(self._documents(query, _internal(run_manager), user_id, k, retrieval))
