"""Middleware for ``langchain.agents.create_agent``: the user's factors and reasoning examples in the prompt.

Before every model call, :class:`RPMMiddleware` appends to the system prompt the current user's
factors (with their statistics) and the reasoning examples most relevant to the last user message,
within a token budget. It needs the ``agents`` extra (``pip install 'langchain-rpm[agents]'``); this
is the only module that imports ``langchain``.

Retrieval works as everywhere in RPM (:mod:`langchain_rpm.personalization`): by default
(``retrieval="features"``) the message's features are extracted against the user's factors (one
LLM call, the paper's feature-based retrieval), which matches decision structure rather than
topic; ``retrieval="query"`` embeds the raw message text (no extra LLM call). Either way the block
is cached per (user, profile version, message), so the tool loop of one turn pays for it once.

The user id comes from ``runtime.context`` (``context_schema=RPMContext`` or any context with a
``user_id``), else ``config["configurable"]["user_id"]``; none raises
:class:`~langchain_rpm.errors.MissingUserIdError`. A user without a profile gets no personalization (the
agent runs unchanged) unless ``on_unknown_user="raise"`` (the cold-start rule of
:mod:`langchain_rpm.personalization`).

Example:
    >>> from langchain_rpm.testing import demo_rpm
    >>> rpm = demo_rpm()  # the offline demo model, a temporary store, user "ada" built
    >>> middleware = RPMMiddleware(rpm, k=1, max_tokens=400)
    >>> print(middleware.personal_block("ada", "Broke in a day.").splitlines()[0][:33])
    Personalization (RPM): what is kn
    >>> # agent = create_agent(model, tools, middleware=[middleware], context_schema=RPMContext)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any

from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.messages import AnyMessage, SystemMessage
from langgraph.config import get_config

from langchain_rpm._plans import Plan, arun, run
from langchain_rpm._process_caches import follow
from langchain_rpm.components import as_components
from langchain_rpm.errors import ConfigurationError
from langchain_rpm.graphs.internal import internal_config
from langchain_rpm.graphs.state import resolve_user_id
from langchain_rpm.personalization import (
    DEFAULT_HEADER,
    OnUnknownUser,
    Personalization,
    Personalizer,
    Retrieval,
    check_on_unknown_user,
    check_retrieval,
    require_profile,
)

if TYPE_CHECKING:
    from langchain_rpm.components import RPMComponents
    from langchain_rpm.rpm import RPM


def last_user_text(messages: Sequence[AnyMessage]) -> str:
    """Text of the last human message, or ``""``."""
    for message in reversed(messages):
        if message.type == "human":
            return message.text
    return ""


def _with_block(system: SystemMessage | None, block: str) -> SystemMessage:
    if system is None:
        return SystemMessage(content=block)
    if isinstance(system.content, str):
        return SystemMessage(content=f"{system.content}\n\n{block}" if system.content else block)
    return SystemMessage(content=[*system.content, {"type": "text", "text": block}])


BlockKey = tuple[str, Hashable, str]
"""A kept block's key: the user, the revision of their stored profile and examples (``QueryContext.revision``),
the message."""
_ATTEMPTS = 3
"""Times a block is made again when its user was dropped while it was being made (then: no block)."""


class RPMMiddleware(AgentMiddleware):
    """Adds the user's RPM factors and relevant reasoning examples to the system prompt.

    Args:
        rpm: An :class:`~langchain_rpm.RPM` facade or its components (task, store, model).
        k: Examples retrieved for the last user message (default: the components' ``k``).
        max_tokens: Budget of the added block (approximate tokens, ``len(text) / 4``).
        retrieval: ``"features"`` (default: extract the message's features first, one LLM call,
            cached per message) or ``"query"`` (embed the message text, no LLM call).
        on_unknown_user: ``"empty"`` (a user without a profile: the prompt is left unchanged) or
            ``"raise"`` (:class:`~langchain_rpm.errors.UnknownUserError`).
        header: First line of the block.
        cache_size: Blocks kept per (user, stored profile and examples, message).

    Example:
        >>> # create_agent(model, tools, middleware=[RPMMiddleware(rpm, k=3)], context_schema=RPMContext)
    """

    def __init__(
        self,
        rpm: RPM | RPMComponents,
        *,
        k: int | None = None,
        max_tokens: int = 800,
        retrieval: Retrieval = "features",
        on_unknown_user: OnUnknownUser = "empty",
        header: str = DEFAULT_HEADER,
        cache_size: int = 256,
    ) -> None:
        """Configure the block; see the class docstring."""
        super().__init__()
        check_retrieval(retrieval, k)
        if max_tokens < 1:
            raise ConfigurationError(f"max_tokens must be >= 1, got {max_tokens}")
        self.components = as_components(rpm)
        self.personalizer = Personalizer(self.components)
        self.k = k
        self.max_tokens = max_tokens
        self.retrieval = retrieval
        self.require_profile = check_on_unknown_user(on_unknown_user)
        self.header = header
        self._cache: OrderedDict[BlockKey, str] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._making: dict[str, list[int]] = {}  # user -> [drops while a block of theirs is made, makers]
        follow(self)  # a forget, a removal or a write of examples alone drops the user's blocks at once

    def _user_id(self, request: ModelRequest) -> str:
        try:
            config: Any = get_config()
        except RuntimeError:  # called outside a LangGraph run
            config = None
        return resolve_user_id(request.runtime.context if request.runtime else None, config)

    def _cached(self, key: BlockKey) -> str | None:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        return None

    def empty_caches(self, user_id: str) -> None:
        """Drop the blocks kept for ``user_id`` (a forget, a removal, a write of examples alone call this)."""
        with self._lock:
            for key in [key for key in self._cache if key[0] == user_id]:
                del self._cache[key]
            if user_id in self._making:  # a block of theirs being made from an earlier read is not kept
                self._making[user_id][0] += 1

    def _begin(self, user_id: str) -> int:
        """Count a block of ``user_id`` being made; the user's drops so far (kept only while one is made)."""
        with self._lock:
            making = self._making.setdefault(user_id, [0, 0])
            making[1] += 1
            return making[0]

    def _end(self, user_id: str) -> None:
        with self._lock:
            making = self._making[user_id]
            making[1] -= 1
            if not making[1]:
                del self._making[user_id]

    def _remember(self, key: BlockKey, block: str, dropped: int) -> bool:
        """Keep ``block`` unless the user was dropped since the block's read (then: ``False``, nothing kept)."""
        with self._lock:  # the lock a drop's empty_caches takes: a drop after this check empties the block
            if self._making[key[0]][0] != dropped:
                return False
            for old in [old for old in self._cache if old[0] == key[0] and old[1] != key[1]]:
                del self._cache[old]  # blocks of the user's earlier profiles are never served again
            self._cache[key] = block
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return True

    def block_plan(self, user_id: str, query: str) -> Plan[str]:
        """The block added for ``user_id`` and ``query`` (``""`` without a profile), cached per message.

        Blocks are kept per (user, stored profile and examples, message): a kept block costs no store read on an
        embedded folder whose query cache holds the user, one read of the profile and manifest on other stores.
        A forget, a removal or a write of the user's examples in this process drops their blocks at once, and a
        block made from a read that one of them followed is made again; a user found without a profile has their
        blocks dropped.
        """
        for _ in range(_ATTEMPTS):
            dropped = self._begin(user_id)
            try:
                key, block = yield from self._block_plan(user_id, query)
                if key is None or self._remember(key, block, dropped):
                    return block
            finally:
                self._end(user_id)
        return ""  # the user kept changing while their block was made: nothing read before a change is served

    def _block_plan(self, user_id: str, query: str) -> Plan[tuple[BlockKey | None, str]]:
        """``(key to keep it under, block)``; no key for a kept block or a user without a profile."""
        context = yield from self.components.store.profile_context_plan(user_id)
        if context.stored is None:
            self.empty_caches(user_id)
            if self.require_profile:
                require_profile(context.stored, user_id)  # raises UnknownUserError
            return None, ""
        key = (user_id, context.revision, query)
        if (cached := self._cached(key)) is not None:
            return None, cached
        found = Personalization(user_id, query, context)
        if query:  # the context is reused where it holds the vectors (a profile alone: the personalization reads)
            held = context if context.vectors is not None else None
            found = yield from self.personalizer.plan(
                user_id,
                query,
                k=self.k,
                retrieval=self.retrieval,
                required=self.require_profile,  # forgotten since the read above: empty, unless strict
                config=internal_config(),
                context=held,
            )
        return key, found.render(self.components.task, max_tokens=self.max_tokens, header=self.header)

    def personal_block(self, user_id: str, query: str) -> str:
        """Blocking :meth:`block_plan`."""
        return run(self.block_plan(user_id, query))

    async def apersonal_block(self, user_id: str, query: str) -> str:
        """Async :meth:`block_plan`."""
        return await arun(self.block_plan(user_id, query))

    def _apply(self, request: ModelRequest, block: str) -> ModelRequest:
        return request.override(system_message=_with_block(request.system_message, block)) if block else request

    def wrap_model_call(
        self,
        request: ModelRequest,
        handler: Callable[[ModelRequest], ModelResponse],
    ) -> ModelResponse:
        """Add the block to the system prompt, then call the model."""
        block = self.personal_block(self._user_id(request), last_user_text(request.messages))
        return handler(self._apply(request, block))

    async def awrap_model_call(
        self,
        request: ModelRequest,
        handler: Callable[[ModelRequest], Awaitable[ModelResponse]],
    ) -> ModelResponse:
        """Async :meth:`wrap_model_call`."""
        block = await self.apersonal_block(self._user_id(request), last_user_text(request.messages))
        return await handler(self._apply(request, block))
