"""Tests of the fault-injecting OpenAI fake (tests/support/fault_server.py), driven by the real ChatOpenAI."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Literal

import openai
import pytest
from langchain_core.messages import AIMessage
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field, ValidationError

from tests.support.fault_server import FaultServer, fill_schema, invalid_for_schema

pytestmark = [pytest.mark.enable_socket, pytest.mark.timeout(30)]


class Step(BaseModel):
    """One reasoning step."""

    text: str
    weight: int = Field(ge=0, le=10)
    kind: Literal["deduce", "recall"]


class Plan(BaseModel):
    """A plan made of steps."""

    title: str
    steps: list[Step] = Field(min_length=1)
    confidence: float
    done: bool
    parent: Plan | None = None
    tags: dict[str, int] = Field(default_factory=dict)


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer(seed=0, slow_seconds=3.0) as srv:
        yield srv


def _llm(server: FaultServer, *, max_retries: int = 0, timeout: float = 5.0) -> ChatOpenAI:
    return ChatOpenAI(base_url=server.base_url, api_key="test", model="fake", max_retries=max_retries, timeout=timeout)


# --------------------------------------------------------------------------- #
# Correct answers
# --------------------------------------------------------------------------- #
def test_plain_chat_answer(server: FaultServer) -> None:
    msg = _llm(server).invoke("hello there")
    assert isinstance(msg, AIMessage)
    assert msg.content == "Fake answer to: hello there"
    assert msg.usage_metadata is not None
    assert msg.usage_metadata["total_tokens"] == (
        msg.usage_metadata["input_tokens"] + msg.usage_metadata["output_tokens"]
    )
    assert msg.response_metadata["finish_reason"] == "stop"
    stats = server.stats
    assert stats["chat_requests"] == 1
    assert stats["success"] == 1
    assert sum(stats["injected"].values()) == 0
    (request,) = server.requests
    assert request["model"] == "fake"
    assert request["messages"][-1] == {"role": "user", "content": "hello there"}


def test_models_endpoint(server: FaultServer) -> None:
    client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
    try:
        assert [m.id for m in client.models.list()] == ["fake"]
    finally:
        client.close()
    assert server.stats["models_requests"] == 1


def test_structured_output_function_calling(server: FaultServer) -> None:
    structured = _llm(server).with_structured_output(Plan, method="function_calling")
    plan = structured.invoke("make a plan")
    assert isinstance(plan, Plan)
    assert plan.steps and plan.steps[0].kind == "deduce"
    request = server.requests[-1]
    assert request["tools"][0]["function"]["name"] == "Plan"
    assert request["tool_choice"]["function"]["name"] == "Plan"
    # Deterministic: same prompt, same answer.
    assert structured.invoke("make a plan") == plan


def test_structured_output_json_schema(server: FaultServer) -> None:
    plan = _llm(server).with_structured_output(Plan, method="json_schema").invoke("plan it")
    assert isinstance(plan, Plan)
    assert server.requests[-1]["response_format"]["type"] == "json_schema"


def test_streaming_matches_invoke(server: FaultServer) -> None:
    llm = _llm(server)
    chunks = list(llm.stream("stream me"))
    assert "".join(str(c.content) for c in chunks) == llm.invoke("stream me").content
    assert server.requests[0]["stream"] is True


def test_custom_responder_and_tool_calls() -> None:
    def responder(request: dict) -> dict:
        if request.get("tools") and request["messages"][-1]["role"] != "tool":
            return {"tool_calls": [{"name": "lookup", "arguments": {"q": "abc"}}]}
        return {"content": "final"}

    with FaultServer(responder) as srv:
        llm = _llm(srv).bind_tools(
            [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
        )
        msg = llm.invoke("find abc")
        assert msg.tool_calls[0]["name"] == "lookup"
        assert msg.tool_calls[0]["args"] == {"q": "abc"}
        assert msg.tool_calls[0]["id"].startswith("call_")
        assert msg.response_metadata["finish_reason"] == "tool_calls"


def test_fill_schema_and_invalid_for_schema() -> None:
    schema = Plan.model_json_schema()
    value = fill_schema(schema, seed="abc")
    assert Plan.model_validate(value)
    assert fill_schema(schema, seed="abc") == value
    assert fill_schema(schema, seed="abd") != value
    with pytest.raises(ValidationError):
        Plan.model_validate(invalid_for_schema(schema, seed="abc"))


# --------------------------------------------------------------------------- #
# Faults
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(("kind", "exc"), [("429", openai.RateLimitError), ("500", openai.InternalServerError)])
def test_status_faults_are_retried_by_the_client(server: FaultServer, kind: str, exc: type[Exception]) -> None:
    server.force(kind, 2)
    msg = _llm(server, max_retries=3).invoke("retry me")
    assert msg.content == "Fake answer to: retry me"
    stats = server.stats
    assert stats["injected"][kind] == 2
    assert stats["chat_requests"] == 3
    assert stats["success"] == 1

    server.force(kind, 1)
    with pytest.raises(exc):
        _llm(server, max_retries=0).invoke("no retries")


def test_slow_answer_times_out(server: FaultServer) -> None:
    server.force("slow")
    start = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        _llm(server, max_retries=0, timeout=0.5).invoke("too slow")
    assert time.monotonic() - start < 2.5
    assert server.stats["injected"]["slow"] == 1
    assert server.stats["success"] == 0


def test_truncated_body_is_a_connection_error(server: FaultServer) -> None:
    server.force("truncated")
    start = time.monotonic()
    with pytest.raises(openai.APIConnectionError):
        _llm(server, max_retries=0).invoke("cut")
    assert time.monotonic() - start < 2.0
    assert server.stats["injected"]["truncated"] == 1
    # The client retries it like any connection error.
    server.force("truncated")
    assert _llm(server, max_retries=1).invoke("cut").content == "Fake answer to: cut"


def test_truncated_json_is_a_decode_error(server: FaultServer) -> None:
    server.force("truncated_json")
    with pytest.raises(json.JSONDecodeError):
        _llm(server, max_retries=3).invoke("half")
    assert server.stats["chat_requests"] == 1  # not retried


def test_invalid_answer_gives_parsing_error(server: FaultServer) -> None:
    server.force("invalid")
    out = _llm(server).with_structured_output(Plan, method="function_calling", include_raw=True).invoke("bad")
    assert out["parsed"] is None
    assert isinstance(out["parsing_error"], ValidationError)
    assert out["raw"].tool_calls[0]["name"] == "Plan"
    assert server.stats["injected"]["invalid"] == 1
    # Without include_raw the error propagates.
    server.force("invalid")
    with pytest.raises(ValidationError):
        _llm(server).with_structured_output(Plan, method="json_schema").invoke("bad")


async def test_async_client_retries(server: FaultServer) -> None:
    server.force("500", 1)
    server.force("429", 1)
    msg = await _llm(server, max_retries=2).ainvoke("async")
    assert msg.content == "Fake answer to: async"
    assert server.stats["injected"]["500"] == server.stats["injected"]["429"] == 1


# --------------------------------------------------------------------------- #
# Rates, determinism, concurrency, lifecycle
# --------------------------------------------------------------------------- #
def _outcomes(seed: int, n: int = 12) -> list[str]:
    with FaultServer(seed=seed, rate_500=0.3, rate_invalid=0.3) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="test", max_retries=0)
        out = []
        try:
            for _ in range(n):
                try:
                    resp = client.chat.completions.create(model="fake", messages=[{"role": "user", "content": "q"}])
                    out.append("invalid" if resp.choices[0].message.content.startswith("{") else "ok")
                except openai.InternalServerError:
                    out.append("500")
        finally:
            client.close()
        stats = srv.stats
        assert stats["injected"]["500"] == out.count("500")
        assert stats["injected"]["invalid"] == out.count("invalid")
        assert stats["success"] == out.count("ok")
    return out


def test_rates_are_seeded_and_reproducible() -> None:
    first = _outcomes(seed=7)
    assert first == _outcomes(seed=7)
    assert {"ok", "500", "invalid"} <= set(first + _outcomes(seed=8) + _outcomes(seed=9))


def test_concurrent_requests_are_counted(server: FaultServer) -> None:
    server.set_rates(rate_429=0.3)
    llm = _llm(server, max_retries=5)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            assert llm.invoke(f"q{i}").content == f"Fake answer to: q{i}"
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    stats = server.stats
    assert stats["success"] == 8
    assert stats["chat_requests"] == 8 + stats["injected"]["429"]
    assert len(server.requests) == stats["chat_requests"]
    server.reset_stats()
    assert server.stats["requests"] == 0
    assert server.requests == []


def test_validation_of_force_and_rates(server: FaultServer) -> None:
    with pytest.raises(ValueError):
        server.force("404")
    with pytest.raises(ValueError):
        server.set_rates(rate_429=0.7, rate_500=0.7)
    with pytest.raises(ValueError):
        FaultServer(rate_slow=1.5)
    server.force(500)  # ints are accepted
    with pytest.raises(openai.InternalServerError):
        _llm(server).invoke("x")


def test_stop_does_not_hang_with_inflight_slow_request() -> None:
    srv = FaultServer(slow_seconds=30.0).start()
    llm = _llm(srv, timeout=20.0)
    llm.invoke("warm keep-alive connection")
    srv.force("slow")
    caught: list[BaseException] = []

    def call() -> None:
        try:
            llm.invoke("hang")
        except BaseException as exc:
            caught.append(exc)

    t = threading.Thread(target=call)
    t.start()
    time.sleep(0.2)
    start = time.monotonic()
    srv.stop()
    assert time.monotonic() - start < 1.0
    t.join(5)
    assert not t.is_alive()
    assert caught and isinstance(caught[0], openai.APIConnectionError)
    srv.stop()  # idempotent
