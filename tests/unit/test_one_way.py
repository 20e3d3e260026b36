"""One way to do each thing: one chat-model resolver, one usage counter, and no library hand on the host's GC."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

from langchain_core.callbacks import UsageMetadataCallbackHandler

import langchain_rpm
from langchain_rpm.evaluation.cli import build_chat_model
from langchain_rpm.usage import UsageTracker

PACKAGE = Path(langchain_rpm.__file__).parent
CHAT_OPENAI_BUILDERS = {"models.py", "cli/_local_llm.py"}  # the resolver and the bundled local server's client


def _calls(name: str) -> dict[str, int]:
    """Where the package calls ``name(...)`` or ``x.name(...)``: ``{relative path: count}``."""
    found: dict[str, int] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if called == name:
                    key = path.relative_to(PACKAGE).as_posix()
                    found[key] = found.get(key, 0) + 1
    return found


def test_chat_openai_is_built_only_by_the_resolver_and_the_local_model():
    assert set(_calls("ChatOpenAI")) <= CHAT_OPENAI_BUILDERS


def test_the_package_leaves_the_garbage_collector_alone():
    touched = {name: _calls(name) for name in ("freeze", "disable", "set_threshold")}
    assert touched == {"freeze": {}, "disable": {}, "set_threshold": {}}


def test_the_usage_counter_is_langchain_cores_handler():
    assert issubclass(UsageTracker, UsageMetadataCallbackHandler)


def test_the_evaluation_builds_models_through_the_resolver(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    local = build_chat_model(argparse.Namespace(model="llama3:8b", base_url="http://127.0.0.1:9/v1"))
    assert (local.model_name, str(local.openai_api_base)) == ("llama3:8b", "http://127.0.0.1:9/v1")
    assert local.temperature == 0
    assert type(build_chat_model(argparse.Namespace(model="demo", base_url=None))).__name__ == "FakeStructuredChatModel"
