"""The one way a chat model is chosen: a model object, a ``"provider:model"`` string, or a name + endpoint.

:func:`resolve_chat_model` is used by the facade, the CLI, the evaluation harness and the deployment
example alike. It never substitutes another model for the one asked for: a model it cannot build
raises :class:`~langchain_rpm.errors.ModelNotAvailableError` saying what is missing.

- a ``BaseChatModel`` is used as it is;
- ``"provider:model"`` (``"anthropic:claude-sonnet-4-5"``, ``"ollama:llama3"``) goes through LangChain's
  ``init_chat_model`` (it needs the ``langchain`` package and the provider's integration package);
  ``"openai:NAME"`` needs only ``langchain-openai``;
- a bare name (default ``gpt-4o-mini``, the paper's backbone) is an OpenAI model, or a model of any
  OpenAI-compatible server when ``base_url`` (or ``$OPENAI_BASE_URL``) is given (vLLM, Ollama,
  llama.cpp).

Every model it builds has temperature 0, as in the paper.

Example:
    >>> from langchain_rpm.testing import FakeStructuredChatModel
    >>> model = FakeStructuredChatModel()
    >>> resolve_chat_model(model) is model
    True
    >>> resolve_chat_model("llama3", base_url="http://127.0.0.1:8080/v1").model_name
    'llama3'
"""

from __future__ import annotations

import logging
import os
from typing import Any

from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from langchain_rpm.errors import ConfigurationError, ModelNotAvailableError

DEFAULT_MODEL = "gpt-4o-mini"
"""The paper's backbone; used when no model is named."""

NO_KEY_PLACEHOLDER = "not-needed"
"""API key sent to OpenAI-compatible servers that need none (``ChatOpenAI`` insists on one)."""


def resolve_chat_model(
    model: BaseChatModel | str | None = None,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    temperature: float | None = 0,
    **kwargs: Any,
) -> BaseChatModel:
    """Return the chat model asked for, or raise :class:`ModelNotAvailableError` saying what is missing.

    Args:
        model: A chat model, ``"provider:model"``, or an OpenAI(-compatible) model name.
        base_url: An OpenAI-compatible endpoint (default ``$OPENAI_BASE_URL``); bare names only.
        api_key: The key for that endpoint (default ``$OPENAI_API_KEY``).
        temperature: Sampling temperature of models built here (``None``: the provider's default).
        **kwargs: More constructor arguments (``max_retries``, ``timeout``, ``cache``, ...).
    """
    if isinstance(model, BaseChatModel):
        if base_url or api_key or kwargs:
            raise ConfigurationError("base_url, api_key and model options apply to model names, not to a model object")
        return model
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise ConfigurationError(f"model must be a chat model or a non-empty name, got {model!r}")
    name = (model or DEFAULT_MODEL).strip()
    options = {**kwargs, **({"temperature": temperature} if temperature is not None else {})}
    provider, _, rest = name.partition(":")
    if rest and provider != "openai":
        if base_url:
            raise ConfigurationError(f"base_url is for OpenAI-compatible servers; {name!r} names another provider")
        return _init_chat_model(name, options)
    return _openai(rest or name, base_url=base_url, api_key=api_key, options=options)


def _openai(name: str, *, base_url: str | None, api_key: str | None, options: dict[str, Any]) -> BaseChatModel:
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as exc:  # pragma: no cover - a required dependency
        raise ModelNotAvailableError(f"model {name!r} needs langchain-openai: pip install langchain-openai") from exc
    base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
    api_key = api_key or os.environ.get("OPENAI_API_KEY") or None
    if base_url is None and api_key is None:
        raise ModelNotAvailableError(
            f"model {name!r} needs an OpenAI API key: set OPENAI_API_KEY, or give base_url= (OPENAI_BASE_URL) "
            "for an OpenAI-compatible server, or pass a chat model object"
        )
    return ChatOpenAI(model=name, base_url=base_url, api_key=SecretStr(api_key or NO_KEY_PLACEHOLDER), **options)


def _init_chat_model(name: str, options: dict[str, Any]) -> BaseChatModel:
    try:
        from langchain.chat_models import init_chat_model
    except ImportError as exc:
        raise ModelNotAvailableError(
            f"model {name!r} is built with LangChain's init_chat_model: pip install 'langchain-rpm[agents]' "
            "(the `langchain` package) and the provider's package"
        ) from exc
    try:
        built = init_chat_model(name, **options)
    except ImportError as exc:
        raise ModelNotAvailableError(f"model {name!r}: {exc}".splitlines()[0]) from exc
    except ValueError as exc:
        raise ModelNotAvailableError(f"model {name!r}: {str(exc).splitlines()[0]}") from exc
    if not isinstance(built, BaseChatModel):  # pragma: no cover - init_chat_model with a model name
        raise ModelNotAvailableError(f"model {name!r} did not resolve to a chat model")
    return built


def model_name(model: BaseChatModel) -> str:
    """Best-effort readable name of a chat model, for profiles and reports.

    Example:
        >>> from langchain_rpm.testing import FakeStructuredChatModel
        >>> model_name(FakeStructuredChatModel(model="my-fake"))
        'my-fake'
    """
    for attr in ("model_name", "model", "model_id"):
        found = getattr(model, attr, None)
        if isinstance(found, str) and found:
            return found
    return type(model).__name__


def at_temperature_zero(model: BaseChatModel) -> BaseChatModel:
    """``model`` with temperature 0 (a copy), as every call in the paper; one warning when it has no such field.

    Used by ``preset="paper"`` on model objects too (models built by name already get 0).

    Example:
        >>> from langchain_openai import ChatOpenAI
        >>> at_temperature_zero(ChatOpenAI(model="gpt-4o-mini", api_key="sk-test", temperature=0.7)).temperature
        0.0
    """
    if "temperature" not in type(model).model_fields:
        _log.warning("preset='paper': %s has no temperature setting; its sampling is left as is", type(model).__name__)
        return model
    if getattr(model, "temperature", None) == 0:
        return model
    return model.model_copy(update={"temperature": 0.0})


_log = logging.getLogger(__name__)
