"""Base class of the RPM stages: a LangChain ``Runnable`` with validated input and traced calls.

Subclasses implement ``_run``/``_arun`` on a pydantic input model; ``invoke``/``ainvoke`` coerce
dicts into that model and trace the call as a chain run, and ``batch``/``abatch`` (inherited from
``Runnable``) run inputs concurrently under ``config["max_concurrency"]``.

Example:
    >>> from langchain_rpm.stage import RPMStage
    >>> issubclass(RPMStage, object)
    True
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar, Generic, TypeVar

from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import BaseModel, ValidationError

InputT = TypeVar("InputT", bound=BaseModel)
OutputT = TypeVar("OutputT")


class RPMStage(Runnable[Any, OutputT], Generic[InputT, OutputT]):
    """A runnable RPM stage. ``input_model`` is the pydantic model its input is coerced into."""

    input_model: ClassVar[type[BaseModel]]

    def coerce(self, value: Any) -> InputT:
        """Turn ``value`` (the input model, a dict, or a stage-specific shortcut) into the input model."""
        if isinstance(value, self.input_model):
            return value  # type: ignore[return-value]
        try:
            return self.input_model.model_validate(value)  # type: ignore[return-value]
        except ValidationError as exc:
            raise ValueError(f"{self.get_name()}: invalid input: {exc}") from exc

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> OutputT:
        return self._call_with_config(self._run, self.coerce(input), config)  # type: ignore[arg-type]

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> OutputT:
        return await self._acall_with_config(self._arun, self.coerce(input), config)  # type: ignore[arg-type]

    @abstractmethod
    def _run(self, input: InputT, config: RunnableConfig) -> OutputT: ...

    @abstractmethod
    async def _arun(self, input: InputT, config: RunnableConfig) -> OutputT: ...
