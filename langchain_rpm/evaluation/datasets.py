"""Evaluation datasets: the loaders in one place, a seeded user/query split, and the shipped demo data.

Every loader returns :class:`~langchain_rpm.evaluation.users.EvalUser` objects: a user's history
(``HistoryItem``s, what RPM builds the profile from) and the held-out queries to predict.

- :func:`~langchain_rpm.evaluation.lamp.load_lamp` reads LaMP question and gold files, one user per
  question record whose query is the record's own input (LaMP's own protocol);
- :func:`~langchain_rpm.evaluation.goqa.load_goqa` reads GlobalOpinionQA; users are countries and hold
  no queries until :func:`split_users` carves them out of the history;
- :mod:`~langchain_rpm.evaluation.protocol` builds the paper's splits from the same files;
- :func:`demo_dataset` loads the small synthetic dataset under ``langchain_rpm/data/demo/``.

Bad files raise :class:`DatasetError` naming the file, the record (0-based position in the JSON
list, plus its id) and the field, e.g.
``lamp2_questions.json: record 3 (id '110'): profile item 2 is missing field 'tag'``.

Example:
    >>> users = demo_dataset("lamp3")
    >>> len(users), len(users[0].history), users[0].queries[0].gold
    (4, 8, '2')
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from contextlib import ExitStack
from importlib import resources

from langchain_rpm.errors import DatasetError
from langchain_rpm.evaluation.goqa import load_goqa
from langchain_rpm.evaluation.lamp import LAMP_PROFILE_FIELDS, load_lamp, strip_lamp_prompt
from langchain_rpm.evaluation.users import EvalQuery, EvalUser

__all__ = [
    "LAMP_PROFILE_FIELDS",
    "DatasetError",
    "EvalQuery",
    "EvalUser",
    "demo_dataset",
    "load_goqa",
    "load_lamp",
    "split_users",
    "strip_lamp_prompt",
]

_DEMO_TASKS = ("lamp2", "lamp3", "lamp5", "goqa")
_DEMO_GOQA_TEST = 2
_DEMO_SEED = 0


# -- splitting ----------------------------------------------------------------------------------------------


def split_users(
    users: Sequence[EvalUser], *, n_users: int | None = None, n_test: int = 1, seed: int = 0
) -> list[EvalUser]:
    """Sample users and hold out test queries, reproducibly.

    A user without queries (GlobalOpinionQA, custom data) gets its history shuffled with a
    generator seeded by ``(seed, user_id)``; the last ``n_test`` items of the shuffled history
    become its queries (gold = the recorded response) and the rest, in their original order, stay
    as history. A user that already has queries (LaMP) is kept as it is. Users with fewer than
    ``n_test + 1`` history items and no queries are dropped. When ``n_users`` is given, that many
    of the remaining users are sampled with ``seed``; the input order is preserved.

    Raises:
        ValueError: ``n_test < 1``, ``n_users < 1``, or fewer eligible users than ``n_users``.

    Example:
        >>> users = split_users(demo_dataset("goqa"), n_users=2, seed=1)
        >>> len(users)
        2
    """
    if n_test < 1:
        raise ValueError(f"n_test must be at least 1, got {n_test}")
    eligible = [u for u in users if u.queries or len(u.history) > n_test]
    if n_users is not None:
        if n_users < 1:
            raise ValueError(f"n_users must be at least 1, got {n_users}")
        if n_users > len(eligible):
            raise ValueError(
                f"asked for {n_users} users but only {len(eligible)} have a query or more than {n_test} history items"
            )
        chosen = set(random.Random(seed).sample(range(len(eligible)), n_users))
        eligible = [u for i, u in enumerate(eligible) if i in chosen]
    return [u if u.queries else _carve(u, n_test, seed) for u in eligible]


def _carve(user: EvalUser, n_test: int, seed: int) -> EvalUser:
    order = list(range(len(user.history)))
    random.Random(f"{seed}:{user.user_id}").shuffle(order)
    test = order[-n_test:]
    held = set(test)
    history = [item for i, item in enumerate(user.history) if i not in held]
    queries = [
        EvalQuery(
            id=user.history[i].id,
            input=user.history[i].input,
            gold=user.history[i].response,
            options=user.history[i].options,
        )
        for i in test
    ]
    return user.model_copy(update={"history": history, "queries": queries})


# -- demo data ----------------------------------------------------------------------------------------------


def demo_dataset(task_name: str) -> list[EvalUser]:
    """The synthetic demo dataset shipped with the package (see ``langchain_rpm/data/demo/README.md``).

    ``"lamp2"``, ``"lamp3"`` and ``"lamp5"`` give 4 users with 8 history items and 1 query each;
    ``"goqa"`` gives 4 countries with 2 queries each, held out by ``split_users(n_test=2, seed=0)``.
    """
    name = task_name.lower().replace("-", "").replace("_", "")
    if name not in _DEMO_TASKS:
        raise ValueError(f"unknown demo task {task_name!r}; use one of {list(_DEMO_TASKS)}")
    demo = resources.files("langchain_rpm") / "data" / "demo"
    with ExitStack() as stack:
        if name == "goqa":
            path = stack.enter_context(resources.as_file(demo / "goqa.json"))
            return split_users(load_goqa(path), n_test=_DEMO_GOQA_TEST, seed=_DEMO_SEED)
        questions = stack.enter_context(resources.as_file(demo / f"{name}_questions.json"))
        outputs = stack.enter_context(resources.as_file(demo / f"{name}_outputs.json"))
        return load_lamp(questions, outputs, name)
