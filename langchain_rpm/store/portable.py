"""Portable profiles: one user as one versioned JSON document, moved between stores without LLM calls.

The document holds the profile (factors with their statistics, the build's provenance: task, preset,
prompt version, models), every current example (input, features, reasoning, answer) with its stored
vector, and the embedding model's name and dimension. Importing writes it copy-on-write under the user's
lock, with the vectors as they are (no model and no embedding call); exporting what was imported gives
the same bytes. A store whose embeddings differ from the document's is refused in one line, and so is
a user the store already holds (unless ``replace``), a malformed file or another format version: each
before anything is written.

Example:
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langgraph.store.memory import InMemoryStore
    >>> from langchain_rpm._plans import run
    >>> from langchain_rpm.store import RPMStore
    >>> from langchain_rpm.testing import demo_rpm
    >>> rpm = demo_rpm()  # user "ada", built offline
    >>> text = dumps(run(export_plan(rpm.store, "ada")))
    >>> other = RPMStore.from_langgraph(InMemoryStore(), embeddings=rpm.store.embeddings)
    >>> run(import_plan(other, loads(text))).num_items == rpm.store.get_profile("ada").num_items
    True
    >>> dumps(run(export_plan(other, "ada"))) == text
    True
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from langchain_rpm._plans import Plan
from langchain_rpm._process_caches import drop_user
from langchain_rpm.errors import ConfigurationError, EmbeddingMismatchError, InputFileError, UnknownUserError
from langchain_rpm.store._backend import Backend, HasBackend, backend_of
from langchain_rpm.store._locks import Held
from langchain_rpm.store._writes import write_plan
from langchain_rpm.types import ReasoningExample, UserProfile

FORMAT = "langchain-rpm/user"
VERSION = 1


def export_plan(store: Backend | HasBackend, user_id: str) -> Plan[dict[str, Any]]:
    """One user as a document (read under the user's write lock: one consistent version)."""
    backend = backend_of(store)

    def body(held: Held) -> Plan[dict[str, Any]]:
        current = yield from backend.current_plan(user_id)
        if current.profile is None:
            raise UnknownUserError(f"user {user_id!r}: no profile in this store to export; build the user first")
        ordered = sorted(current.records.items(), key=lambda pair: pair[1][0].item_id)
        vectors = yield from backend.vectors_plan(user_id, [record_id for record_id, _ in ordered])
        profile = current.profile
        return {
            "format": FORMAT,
            "version": VERSION,
            "user_id": user_id,
            "embeddings": {"model": backend.embedding_model, "dimension": backend.embedding_dimension},
            "provenance": {
                "task": profile.task,
                "preset": profile.preset,
                "prompt_version": profile.prompt_version,
                "model": profile.model,
                "embedding_model": profile.embedding_model,
            },
            "profile": json.loads(profile.model_dump_json()),
            "examples": [
                {"example": json.loads(example.model_dump_json()), "vector": vector}
                for (_, (example, _)), vector in zip(ordered, vectors, strict=True)
            ],
        }

    return (yield from backend.coordinator.locked(user_id, body))


def import_plan(store: Backend | HasBackend, document: Any, *, replace: bool = False) -> Plan[UserProfile]:
    """Store the user of ``document`` (checked first); refuses a user already stored unless ``replace``."""
    backend = backend_of(store)
    user_id, profile, examples, vectors = parse(document)
    model, dimension = document["embeddings"]["model"], document["embeddings"]["dimension"]
    if model != backend.embedding_model or (backend.embedding_dimension not in (None, dimension)):
        raise EmbeddingMismatchError(
            f"the file's vectors were made with {model!r} (dimension {dimension}), but this store embeds with "
            f"{backend.embedding_model!r} (dimension {backend.embedding_dimension}): open the store with the "
            "file's embeddings, or rebuild the user"
        )

    def keep_profile(every: list[ReasoningExample], previous: UserProfile | None) -> UserProfile:
        if previous is not None and not replace:
            raise ConfigurationError(
                f"user {user_id!r} is already in this store (profile version {previous.version}); "
                "import with replace=True (`rpm import FILE --replace`) to overwrite it"
            )
        return profile

    result = yield from write_plan(backend, user_id, examples, replace=True, make_profile=keep_profile, vectors=vectors)
    drop_user(user_id)  # the file's profile may be the stored one: its revision need not move
    assert result.profile is not None
    return result.profile


def parse(document: Any) -> tuple[str, UserProfile, list[ReasoningExample], list[list[float]]]:
    """The user, profile, examples and vectors of a document; :class:`InputFileError` (one line) if malformed."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise InputFileError(f'not a langchain-rpm user file (expected "format": {FORMAT!r}); nothing was stored')
    if document.get("version") != VERSION:
        raise InputFileError(
            f"user file version {document.get('version')!r} is not supported (this langchain-rpm reads version "
            f"{VERSION}); export it again with a matching version; nothing was stored"
        )
    try:
        user_id = str(document["user_id"])
        profile = UserProfile.model_validate(document["profile"])
        rows = document["examples"]
        examples = [ReasoningExample.model_validate(row["example"]) for row in rows]
        vectors = [[float(x) for x in row["vector"]] for row in rows]
        dimension = document["embeddings"]["dimension"]
        _ = document["embeddings"]["model"]
    except (KeyError, TypeError, ValueError, ValidationError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputFileError(f"malformed user file ({type(exc).__name__}: {first}); nothing was stored") from None
    if profile.user_id != user_id or any(len(vector) != dimension for vector in vectors):
        raise InputFileError("malformed user file (its profile or vectors do not match its header); nothing was stored")
    return user_id, profile, examples, vectors


def dumps(document: dict[str, Any]) -> str:
    """The document as text (stable: the same user gives the same bytes)."""
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


def loads(text: str) -> Any:
    """A document from text; :class:`InputFileError` (one line) when it is not JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(f"not a langchain-rpm user file: not JSON ({exc}); nothing was stored") from None
