"""`rpm` runs the model asked for, or says what is missing in one line; the first line names the model."""

from __future__ import annotations

import pytest

from langchain_rpm.errors import ConfigurationError, ModelNotAvailableError
from tests.support.cli_run import run_main

pytestmark = pytest.mark.enable_socket


@pytest.fixture
def local_never_starts(monkeypatch):
    """The bundled model counts as installed, but starting its server fails the test."""

    def refuse(self):
        raise AssertionError("the local LLM server was started")

    monkeypatch.setattr("langchain_rpm.cli._local_llm.local_llm_available", lambda: True)
    monkeypatch.setattr("langchain_rpm.cli._local_llm.LocalLLMServer.start", refuse)


@pytest.mark.parametrize(
    ("model", "missing"),
    [
        ("gpt-4o", "needs OPENAI_API_KEY"),
        ("anthropic:claude-3-5-haiku-latest", "anthropic"),
    ],
)
def test_an_explicit_model_without_what_it_needs_fails_and_never_runs_the_local_model(
    tmp_path, capsys, rows, local_never_starts, model, missing
):
    result = run_main(capsys, "--store", tmp_path / "s", "build", rows, "--model", model)
    assert result.status == 2, result.err
    assert len(result.err_lines) == 1 and result.errors, result.err
    assert missing in result.err
    assert "SmolLM2" not in result.err
    assert not (tmp_path / "s").exists()  # nothing stored, not even an empty store


def test_a_provider_model_is_never_sent_to_openai(tmp_path, capsys, rows, server, monkeypatch):
    """With a key and an OpenAI endpoint configured, `anthropic:...` goes to init_chat_model, not to that endpoint."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    result = run_main(capsys, "--store", tmp_path / "s", "build", rows, "--model", "anthropic:claude-3-5-haiku-latest")
    assert server.stats["chat_requests"] == 0
    assert result.status == 2 and "anthropic" in result.err


def test_an_explicit_model_at_a_base_url_is_used_and_named_first(tmp_path, capsys, rows, server):
    result = run_main(
        capsys, "build", rows, "--store", tmp_path / "s", "--model", "openai:my-model",
        "--base-url", server.base_url, "--structured-output", "function_calling",
    )  # fmt: skip
    assert result.status == 0, result.err
    assert result.err_lines[0] == f"model: my-model at {server.base_url}"
    assert {request["model"] for request in server.requests} == {"my-model"}


def test_rpm_model_env_is_an_explicit_model(tmp_path, capsys, rows, server, monkeypatch):
    monkeypatch.setenv("RPM_MODEL", "from-env")
    result = run_main(
        capsys, "--store", tmp_path / "s", "--base-url", server.base_url, "--structured-output", "function_calling",
        "build", rows,
    )  # fmt: skip
    assert result.status == 0 and result.err_lines[0] == f"model: from-env at {server.base_url}"


def test_local_with_another_model_is_refused(tmp_path, capsys, rows, local_never_starts):
    result = run_main(capsys, "--store", tmp_path / "s", "--local", "--model", "gpt-4o", "build", rows)
    assert result.status == 2 and result.errors == [
        "error: --local runs the bundled SmolLM2; drop --model (or drop --local)"
    ]


def test_no_model_at_all_lists_the_choices_in_one_line(tmp_path, capsys, monkeypatch, rows):
    monkeypatch.setattr("langchain_rpm.cli._local_llm.local_llm_available", lambda: False)
    result = run_main(capsys, "--store", tmp_path / "s", "build", rows)
    assert result.status == 2 and len(result.err_lines) == 1
    assert "OPENAI_API_KEY" in result.err and "--base-url" in result.err and "langchain-rpm[local]" in result.err


def test_plan_order():
    from langchain_rpm.cli._model_choice import LOCAL_DESCRIPTION, plan_model

    installed = plan_model(environ={})  # nothing configured: the bundled model, when installed (it is here)
    assert installed.kind == "local" and installed.description == LOCAL_DESCRIPTION
    assert installed.method == "function_calling"
    assert plan_model(environ={"OPENAI_API_KEY": "k"}).description == "gpt-4o-mini (OpenAI)"
    assert plan_model(model="gpt-4o", environ={"OPENAI_API_KEY": "k"}).description == "gpt-4o (OpenAI)"
    assert plan_model(environ={"OPENAI_BASE_URL": "http://h/v1"}).description == "gpt-4o-mini at http://h/v1"
    with pytest.raises(ModelNotAvailableError, match="langchain-anthropic"):  # checked now, not sent to OpenAI
        plan_model(model="anthropic:claude-x", environ={"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://h"})
    with pytest.raises(ConfigurationError, match="--base-url is for OpenAI-compatible servers"):
        plan_model(model="anthropic:claude-x", base_url="http://h/v1", environ={})
    with pytest.raises(ModelNotAvailableError, match="needs OPENAI_API_KEY"):
        plan_model(model="gpt-4o", environ={})
