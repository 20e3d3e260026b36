"""RPMRetriever: LangChain's standard retriever tests, per-call options, user resolution, chains and graphs.

``tests/integration/test_chroma_server.py`` reruns the standard tests on a real Chroma server.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import ParrotFakeChatModel
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from langchain_tests.integration_tests import RetrieversIntegrationTests
from langgraph.graph import START, StateGraph
from typing_extensions import TypedDict

from langchain_rpm import RPM, RPMContext, RPMStore
from langchain_rpm.errors import MissingUserIdError, UnknownUserError
from langchain_rpm.retrievers import RPMRetriever
from langchain_rpm.store import default_client
from tests.support.rpm_fakes import CountingEmbeddings, rpm_fake_model
from tests.unit.conftest import MOVIE_HISTORY

QUERY = "A robot falls in love in space."
BOB_HISTORY = [
    {"id": "b1", "input": "A wedding and a kiss.", "response": "romance"},
    {"id": "b2", "input": "A car chase and explosions.", "response": "action"},
]


def built_rpm(store: RPMStore) -> RPM:
    """An RPM facade (fake LLM) with users ``ada`` (6 movies) and ``bob`` (2 movies) built into ``store``."""
    rpm = RPM(rpm_fake_model(), task="lamp2", store=store, k=3)
    rpm.build_user("ada", MOVIE_HISTORY)
    rpm.build_user("bob", BOB_HISTORY)
    return rpm


def format_docs(docs: list[Document]) -> str:
    return "\n\n".join(doc.page_content for doc in docs)


class TestRPMRetrieverStandard(RetrieversIntegrationTests):
    """LangChain's standard retriever tests, features mode, on the embedded store."""

    params: dict[str, Any]

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def _built(cls, tmp_path_factory) -> None:
        store = RPMStore(client=default_client(tmp_path_factory.mktemp("retriever")), embeddings=CountingEmbeddings())
        rpm = built_rpm(store)
        cls.params = {"components": rpm.components, "user_id": "ada"}

    @property
    def retriever_constructor(self) -> type[RPMRetriever]:
        return RPMRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def retriever_query_example(self) -> str:
        return QUERY


class TestRPMRetrieverStandardQueryText(TestRPMRetrieverStandard):
    """The same standard tests with the LLM-free ``retrieval="query"``."""

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {**self.params, "retrieval": "query"}


@pytest.fixture
def rpm(store) -> RPM:
    return built_rpm(store)


@pytest.fixture
def retriever(rpm) -> RPMRetriever:
    return RPMRetriever.from_rpm(rpm, user_id="ada")


def test_documents_render_the_example_and_carry_its_metadata(retriever, rpm):
    docs = retriever.invoke(QUERY)
    assert len(docs) == 3  # the facade's k
    top = docs[0]
    stored = {ex.item_id: ex for ex in rpm.store.get_examples("ada")}
    example = stored[top.metadata["item_id"]]
    assert top.page_content.splitlines() == [
        f"Input: {example.input}",
        "Features: " + "; ".join(f"{f.name} [{f.factor}]" for f in example.features),
        f"Reasoning: {example.reasoning}",
        f"Answer: {example.answer}",
    ]
    assert top.metadata["answer"] == example.answer
    assert top.metadata["reasoning"] == example.reasoning
    assert top.metadata["features"] == [f.model_dump() for f in example.features]
    assert top.metadata["factors"] == list(dict.fromkeys(f.factor for f in example.features))
    assert top.metadata["user_id"] == "ada"
    scores = [doc.metadata["score"] for doc in docs]
    assert scores == sorted(scores, reverse=True)
    assert len({doc.id for doc in docs}) == 3


def test_features_mode_retrieves_what_the_pipeline_retrieves(retriever, rpm):
    docs = retriever.invoke(QUERY, k=3)
    prediction = rpm.personalize("ada", QUERY)
    assert [doc.metadata["item_id"] for doc in docs] == prediction.example_ids


def test_features_mode_costs_one_llm_call_and_query_text_none(rpm):
    llm = rpm.components.llm
    embeddings = rpm.store.embeddings
    llm.reset()
    before = embeddings.query_calls
    RPMRetriever.from_rpm(rpm, user_id="ada").invoke(QUERY)
    assert (llm.call_count, embeddings.query_calls - before) == (1, 1)
    llm.reset()
    docs = RPMRetriever.from_rpm(rpm, user_id="ada", retrieval="query").invoke(QUERY, k=2)
    assert llm.call_count == 0 and len(docs) == 2
    assert RPMRetriever(components=rpm.components, user_id="ada").invoke(QUERY, retrieval="query")


def test_per_call_k_user_and_retrieval(retriever, rpm):
    from_parts = RPMRetriever.from_rpm(rpm.components, user_id="ada")
    assert from_parts.components is rpm.components and len(from_parts.invoke(QUERY)) == 3  # the components' k
    assert len(retriever.invoke(QUERY, k=1)) == 1
    assert retriever.invoke(QUERY, k=0) == []
    bob = retriever.invoke(QUERY, user_id="bob", k=10)
    assert {d.metadata["item_id"] for d in bob} == {"b1", "b2"}
    assert {d.metadata["user_id"] for d in bob} == {"bob"}
    assert len(retriever.invoke(QUERY, retrieval="query", k=2)) == 2


def test_user_comes_from_kwarg_then_run_config_then_constructor(rpm):
    retriever = RPMRetriever.from_rpm(rpm, user_id="ada", k=10)
    by_config = retriever.invoke(QUERY, config={"configurable": {"user_id": "bob"}})
    assert {d.metadata["user_id"] for d in by_config} == {"bob"}
    by_kwarg = retriever.invoke(QUERY, config={"configurable": {"user_id": "bob"}}, user_id="ada")
    assert {d.metadata["user_id"] for d in by_kwarg} == {"ada"}
    assert {d.metadata["user_id"] for d in retriever.invoke(QUERY)} == {"ada"}
    with pytest.raises(MissingUserIdError, match="user_id"):
        RPMRetriever.from_rpm(rpm).invoke(QUERY)


def test_unknown_users_get_nothing_or_raise_in_strict_mode(rpm):
    with pytest.raises(UnknownUserError, match="no profile for user 'carol'"):
        RPMRetriever.from_rpm(rpm, user_id="carol", on_unknown_user="raise").invoke(QUERY)
    assert RPMRetriever.from_rpm(rpm, user_id="carol").invoke(QUERY) == []
    with pytest.raises(UnknownUserError):  # the same rule whichever retrieval
        RPMRetriever.from_rpm(rpm, user_id="carol", retrieval="query", on_unknown_user="raise").invoke(QUERY)


def test_bad_options_are_refused_with_what_is_allowed(rpm):
    with pytest.raises(ValueError, match="'features' or 'query'"):
        RPMRetriever.from_rpm(rpm, user_id="ada", retrieval="query_text")
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        RPMRetriever.from_rpm(rpm, user_id="ada", k=-3)


async def test_async_results_equal_sync_results(retriever):
    for kwargs in ({}, {"k": 1}, {"user_id": "bob"}, {"retrieval": "query"}):
        assert await retriever.ainvoke(QUERY, **kwargs) == retriever.invoke(QUERY, **kwargs)
    config = {"configurable": {"user_id": "bob"}}
    assert await retriever.ainvoke(QUERY, config=config) == retriever.invoke(QUERY, config=config)


async def test_abatch_serves_several_users(rpm):
    retriever = RPMRetriever.from_rpm(rpm, k=10)
    configs = [{"configurable": {"user_id": user}} for user in ("ada", "bob")]
    ada, bob = await retriever.abatch([QUERY, QUERY], configs)
    assert len(ada) == 6 and len(bob) == 2


def test_retriever_in_an_lcel_chain(rpm):
    prompt = ChatPromptTemplate.from_messages(
        [("system", "How this user reasoned before:\n\n{context}"), ("human", "{question}")]
    )
    retriever = RPMRetriever.from_rpm(rpm, k=2)
    seen: list[Any] = []
    llm = ParrotFakeChatModel()
    chain = (
        {"context": retriever | format_docs, "question": RunnableLambda(lambda q: q)}
        | prompt
        | RunnableLambda(lambda value: seen.append(value) or value)
        | llm
    )
    reply = chain.invoke(QUERY, config={"configurable": {"user_id": "ada"}})
    system = seen[0].to_messages()[0].content
    assert system.count("Reasoning: ") == 2 and "Answer: " in system
    assert reply.content == QUERY  # the parrot repeats the last (human) message
    simple = retriever | format_docs | llm
    assert "Input: " in simple.invoke(QUERY, config={"configurable": {"user_id": "bob"}}).content


def test_retriever_inside_a_langgraph_node_reads_the_run_context(rpm):
    class State(TypedDict):
        query: str
        items: list[str]

    retriever = RPMRetriever.from_rpm(rpm, k=10)

    def lookup(state: State) -> dict[str, Any]:
        return {"items": [doc.metadata["item_id"] for doc in retriever.invoke(state["query"])]}

    graph = StateGraph(State, context_schema=RPMContext).add_node("lookup", lookup)
    graph = graph.add_edge(START, "lookup").compile()
    result = graph.invoke({"query": QUERY, "items": []}, context=RPMContext(user_id="bob"))
    assert sorted(result["items"]) == ["b1", "b2"]
