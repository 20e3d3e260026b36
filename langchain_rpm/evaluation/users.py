"""What the evaluation runs on: users with a history to build from and held-out queries, checked up front.

:func:`validate_users` applies the package's own history rules (:func:`langchain_rpm._history.validate_history`)
to every user of every task *before* anything is built or called, so a bad record fails the run with
one line instead of surfacing after other users were already built and stored.

Example:
    >>> from langchain_rpm.types import HistoryItem
    >>> user = EvalUser(user_id="u1", task="lamp3",
    ...                 history=[HistoryItem(id="1", input="Broke at once.", response="1")],
    ...                 queries=[EvalQuery(id="q", input="Works fine.", gold="4")])
    >>> validate_users("lamp3", [user])
    >>> validate_users("lamp3", [user.model_copy(update={"history": []})])
    Traceback (most recent call last):
    ...
    langchain_rpm.errors.DatasetError: lamp3 user 'u1': the history is empty: a profile needs at least one (input, response) item
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from pydantic import BaseModel, Field

from langchain_rpm._history import check_user_id, validate_history
from langchain_rpm.errors import DatasetError, InvalidAnswerError, InvalidHistoryError
from langchain_rpm.tasks import TaskKind, TaskSpec, get_task
from langchain_rpm.types import HistoryItem

__all__ = ["EvalQuery", "EvalUser", "users_digest", "validate_users"]


class EvalQuery(BaseModel):
    """A held-out query of a user, with its gold answer."""

    id: str
    input: str
    gold: str
    options: list[str] | None = Field(default=None, description="Per-query options (multiple choice).")


class EvalUser(BaseModel):
    """A user to evaluate: the history to build the profile from and the queries to predict."""

    user_id: str
    task: str = Field(description="Name of the task spec, e.g. 'lamp2'.")
    history: list[HistoryItem]
    queries: list[EvalQuery] = Field(default_factory=list)


def validate_users(task: TaskSpec | str, users: Sequence[EvalUser]) -> None:
    """Check every user before a run starts; raise :class:`DatasetError` naming the first bad one.

    A user needs a valid id, a history that passes the package's history rules (non-empty, unique
    item ids, answers that fit the task), at least one query, unique query ids, and gold answers
    that fit the task (multiple choice: each query has options and its gold is one of them).
    """
    spec = get_task(task)
    seen: set[str] = set()
    for user in users:
        place = f"{spec.name} user {user.user_id!r}"
        try:
            check_user_id(user.user_id)
            validate_history(spec, user.history)
        except InvalidHistoryError as exc:
            raise DatasetError(f"{place}: {exc}") from None
        if user.user_id in seen:
            raise DatasetError(f"{place}: the user appears twice; user ids must be unique within a task")
        seen.add(user.user_id)
        _check_queries(spec, user, place)


def _check_queries(spec: TaskSpec, user: EvalUser, place: str) -> None:
    if not user.queries:
        raise DatasetError(f"{place}: no held-out query to predict")
    ids = [q.id for q in user.queries]
    if len(set(ids)) != len(ids):
        raise DatasetError(f"{place}: duplicate query ids in {ids}")
    for query in user.queries:
        if not query.input.strip():
            raise DatasetError(f"{place}: query {query.id!r} has an empty input")
        if spec.kind is TaskKind.MULTIPLE_CHOICE and not query.options:
            raise DatasetError(f"{place}: query {query.id!r} has no options (multiple choice needs them)")
        if spec.kind is TaskKind.OPEN_ENDED:
            if not query.gold.strip():
                raise DatasetError(f"{place}: query {query.id!r} has an empty gold answer")
            continue
        try:
            canonical = spec.normalize(query.gold, query.options)
        except InvalidAnswerError as exc:
            raise DatasetError(f"{place}: query {query.id!r} gold answer: {exc}") from None
        if canonical != query.gold.strip():
            raise DatasetError(
                f"{place}: query {query.id!r} gold {query.gold!r} is not in canonical form {canonical!r} "
                "(the metrics compare exact strings)"
            )


def users_digest(users: Sequence[EvalUser]) -> str:
    """SHA-256 of everything a task's results depend on: every user's history and queries, in order."""
    payload = json.dumps([user.model_dump(mode="json") for user in users], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()
