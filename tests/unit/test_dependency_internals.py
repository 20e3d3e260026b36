"""The private parts of chromadb, langchain-openai and openai the package relies on, checked against what is installed.

``pyproject.toml`` bounds these packages to the minor versions checked here; a new release that moves one of
these internals fails here (in CI, before a user meets it) rather than deep inside a build.
"""

from __future__ import annotations

import sqlite3
from importlib.metadata import version

from packaging.version import Version


def test_installed_versions_are_within_the_checked_range():
    assert Version("1.5") <= Version(version("chromadb")) < Version("1.6")
    assert Version("1.7") <= Version(version("langchain-openai")) < Version("1.9")


def test_langchain_openai_internals_of_the_batch_model():
    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(model="gpt-4o-mini", api_key="unused")
    payload = model._get_request_payload([("human", "hi")])  # BatchChatOpenAI sends this body as a batch line
    assert payload["model"] == "gpt-4o-mini" and payload["messages"][0]["content"] == "hi"
    assert model._use_responses_api(payload) is False  # batch/build.py refuses the Responses API by it
    assert isinstance(model._get_llm_string(), str)  # the LLM-cache key BatchChatOpenAI shares with ChatOpenAI
    assert model.root_client is not None and model.root_async_client is not None


def test_openai_parsing_helpers_of_the_batch_model():
    from openai.lib._parsing import parse_chat_completion, type_to_response_format_param, validate_input_tools

    assert callable(parse_chat_completion) and callable(type_to_response_format_param)
    assert callable(validate_input_tools)


def test_chromadb_internals_of_the_store(tmp_path):
    import chromadb
    from chromadb.api.shared_system_client import SharedSystemClient
    from chromadb.config import Settings

    client = chromadb.PersistentClient(path=str(tmp_path), settings=Settings(anonymized_telemetry=False))
    client.get_or_create_collection("rpm_probe").add(ids=["a"], embeddings=[[0.1, 0.2]], documents=["x"])
    assert client._identifier in SharedSystemClient._identifier_to_system  # store/_folder.py reopens by it
    db = sqlite3.connect(tmp_path / "chroma.sqlite3")  # store/_compaction.py reads these tables
    try:
        segments = db.execute(
            "SELECT s.id FROM segments s JOIN collections c ON s.collection = c.id WHERE s.scope = 'VECTOR'"
        ).fetchall()
        assert segments and db.execute("SELECT count(*) FROM embeddings_queue").fetchone() is not None
    finally:
        db.close()


def test_with_structured_output_is_the_model_then_its_parser():
    """``StructuredCaller`` calls the model half and parses inline (``include_raw=True`` costs 7-8x the CPU:
    ``benchmarks/results/structured_output.md``); that needs this shape, else it calls the runnable whole."""
    from langchain_core.runnables import RunnableBinding, RunnableSequence
    from langchain_openai import ChatOpenAI
    from pydantic import BaseModel

    from langchain_rpm.stages.base import StructuredCaller
    from langchain_rpm.testing import FakeStructuredChatModel

    class Answer(BaseModel):
        answer: str

    for method in ("json_schema", "function_calling", "json_mode"):
        structured = ChatOpenAI(model="gpt-4o-mini", api_key="unused").with_structured_output(Answer, method=method)
        assert isinstance(structured, RunnableSequence) and isinstance(structured.steps[0], RunnableBinding)
        assert StructuredCaller(ChatOpenAI(model="gpt-4o-mini", api_key="unused"), Answer, method=method).parser
    assert StructuredCaller(FakeStructuredChatModel(), Answer).parser is not None
