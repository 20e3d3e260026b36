"""A user's records as versions before a021838 wrote them: ids without a commit token, no ``commit`` metadata.

Exact manifests and commit tokens came together (a021838); a store written before keeps its examples under
``example_id(user, item)`` with no ``commit`` key, and either no manifest or a bare-list one.
"""

from __future__ import annotations

from typing import Any

from langchain_rpm.store import RPMStore, example_id, features_text, user_filter
from langchain_rpm.store._records import joined_text
from langchain_rpm.types import ReasoningExample


def rewrite_as_before_manifests(store: RPMStore, user_id: str) -> list[str]:
    """Re-store every example record of ``user_id`` the way an older version wrote it; the new ids.

    The vectors are embedded again as the write embedded them (a vector read back from Chroma and stored
    again can rank a hair differently).
    """
    collection = store.examples_collection(user_id)
    got = collection.get(where=user_filter(user_id), include=["documents", "metadatas"])
    metadatas: list[dict[str, Any]] = [
        {key: value for key, value in meta.items() if key != "commit"} for meta in got["metadatas"]
    ]
    ids = [example_id(user_id, str(meta["item_id"])) for meta in metadatas]
    examples = [ReasoningExample.model_validate_json(joined_text(meta, "example")) for meta in metadatas]
    vectors = store.embeddings.embed_documents([features_text(ex.features) or ex.input for ex in examples])
    collection.delete(ids=got["ids"])
    collection.add(ids=ids, embeddings=vectors, documents=got["documents"], metadatas=metadatas)
    return ids
