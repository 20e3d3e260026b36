"""``render_prompt`` (``str.format``) gives exactly what LangChain's ``format_prompt`` gives, for every prompt."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

import langchain_rpm.prompts as prompts
from langchain_rpm.stages.base import _PARTS, render_prompt


def _templates() -> dict[str, ChatPromptTemplate]:
    found = {}
    for info in pkgutil.iter_modules(prompts.__path__):
        module = importlib.import_module(f"{prompts.__name__}.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, ChatPromptTemplate):
                found[f"{info.name}.{name}"] = value
    return found


TEMPLATES = _templates()


def test_the_package_prompts_are_found():
    assert {"extraction.FEATURE_EXTRACTION", "reasoning.REASONING_PATH", "factors.ASSIGN_FACTORS"} <= set(TEMPLATES)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_prompt_renders_as_langchain_renders_it(name):
    template = TEMPLATES[name]
    values = {v: f"<{v}: {{braces}} stay, 100% \\n>" for v in template.input_variables}
    assert render_prompt(template, **values) == template.format_prompt(**values)
    assert _PARTS[id(template)][1] is not None  # rendered by the fast path, not handed back to LangChain


def test_templates_the_fast_path_cannot_render_go_to_langchain():
    partial = ChatPromptTemplate.from_messages([("system", "Be {tone}."), ("human", "{q}")]).partial(tone="brief")
    history = ChatPromptTemplate.from_messages([MessagesPlaceholder("past"), ("human", "{q}")])
    assert render_prompt(partial, q="Why?") == partial.format_prompt(q="Why?")
    assert render_prompt(history, past=[("ai", "Hi.")], q="Why?") == history.format_prompt(
        past=[("ai", "Hi.")], q="Why?"
    )
    with pytest.raises(KeyError):
        render_prompt(ChatPromptTemplate.from_messages([("human", "{q}")]))
