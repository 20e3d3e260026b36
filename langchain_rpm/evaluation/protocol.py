"""The paper's evaluation protocol: which users, and which of their items are history and which are test.

RPM's Table 1 (arXiv 2505.21082, Sec. 4.1 and App. D.1) evaluates on these splits, built here from
the official files (:data:`PAPER_SPLITS`):

- **LaMP-2**: 50 users of the *time-based* validation split; each user's profile, sorted by its
  items' ``date``, gives 36 history and 4 test items (the 4 latest are the test);
- **LaMP-3** and **LaMP-5**: 100 users each, 90 history / 10 test, the same way;
- **GlobalOpinionQA**: every country is a user; its label for a question is its most-chosen option,
  and only questions whose top option's share *exceeds* 0.8 are kept; countries with at least 40
  such questions remain (46 in the paper); 40 of them are sampled per country (seeded) and split
  36 / 4 at random.

What the paper leaves open, and how it is read here: a user qualifies when its profile has at least
history + test items (blank inputs skipped); the window is the user's **latest** history + test items
(sorted by date, ties kept in file order); users are drawn by a seeded permutation of the qualifying
records (file order kept), so ``n_users=5`` is a subset of the 50 the full protocol picks with the
same seed; the record's own question (the LaMP query of the time split) is not used. A record's user
is its ``user_id`` when the file gives one, else the record id; when several records share a user,
the one with the most profile items is used (its profile holds the others' earlier items).

Example:
    >>> from langchain_rpm.evaluation.lamp import DatedItem, LampRecord
    >>> from langchain_rpm.types import HistoryItem
    >>> items = [DatedItem(HistoryItem(id=str(i), input=f"review {i}", response="4"), (2020, 1, 40 - i), i)
    ...          for i in range(40)]
    >>> user = paper_lamp_users([LampRecord("u1", "q", items)], "lamp2", n_users=1)[0]
    >>> [q.id for q in user.queries], len(user.history)
    (['3', '2', '1', '0'], 36)
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from langchain_rpm.errors import DatasetError
from langchain_rpm.evaluation.goqa import GoqaQuestion
from langchain_rpm.evaluation.lamp import LampRecord
from langchain_rpm.evaluation.users import EvalQuery, EvalUser
from langchain_rpm.tasks import GLOBAL_OPINION_QA, TaskSpec, get_task
from langchain_rpm.types import HistoryItem

__all__ = ["GOQA_THRESHOLD", "PAPER_SPLITS", "Split", "goqa_countries", "paper_goqa_users", "paper_lamp_users"]

GOQA_THRESHOLD = 0.8
"""GlobalOpinionQA keeps a country's answer to a question only when its top option's share exceeds this."""


class Split(BaseModel):
    """How many users a task samples and how each user's items divide into history and test."""

    model_config = ConfigDict(frozen=True)

    users: int | None = Field(description="Users sampled; None keeps every qualifying user.")
    history: int = Field(ge=1, description="History items per user (what the profile is built from).")
    test: int = Field(ge=1, description="Held-out test items per user.")
    order: Literal["time", "random"] = Field(description="'time': the latest items are the test; 'random': seeded.")

    @property
    def window(self) -> int:
        """Items a user must have: history + test."""
        return self.history + self.test


PAPER_SPLITS: dict[str, Split] = {
    "lamp2": Split(users=50, history=36, test=4, order="time"),
    "lamp3": Split(users=100, history=90, test=10, order="time"),
    "lamp5": Split(users=100, history=90, test=10, order="time"),
    "goqa": Split(users=None, history=36, test=4, order="random"),
}
"""The paper's split of each task (App. D.1)."""


def _pick(names: Sequence[str], wanted: int | None, seed: int, what: str) -> set[str]:
    """``wanted`` of ``names`` by a seeded permutation (a smaller ``wanted`` gives a subset); all when None."""
    if wanted is None:
        return set(names)
    if wanted < 1:
        raise ValueError(f"n_users must be at least 1, got {wanted}")
    if wanted > len(names):
        raise DatasetError(f"asked for {wanted} users but only {len(names)} {what}; pass fewer users")
    order = list(names)
    random.Random(f"paper-protocol:{seed}").shuffle(order)
    return set(order[:wanted])


def paper_lamp_users(
    records: Sequence[LampRecord],
    task: TaskSpec | str,
    *,
    split: Split | None = None,
    n_users: int | None = None,
    seed: int = 0,
) -> list[EvalUser]:
    """The paper's users of a LaMP time-based file: each user's latest items, split by date.

    Args:
        records: The validated records (:func:`~langchain_rpm.evaluation.lamp.read_lamp_questions` with
            ``require_dates=True``; undated items sort as the oldest).
        task: ``lamp2``, ``lamp3``, ``lamp5`` (their split is :data:`PAPER_SPLITS`) or a custom spec with ``split``.
        split: Override the task's split (tests, other tasks).
        n_users: Users to sample instead of the split's count (a cheaper slice of the protocol).
        seed: Seeds the choice of users.

    Raises:
        DatasetError: fewer qualifying users than asked for.
    """
    spec = get_task(task)
    chosen_split = split or PAPER_SPLITS.get(spec.name)
    if chosen_split is None:
        raise ValueError(f"task {spec.name!r} has no paper split; pass split=Split(...)")
    qualifying = [r for r in _one_record_per_user(records) if len(r.profile) >= chosen_split.window]
    what = f"profiles have at least {chosen_split.window} items"
    picked = _pick([r.user for r in qualifying], n_users or chosen_split.users, seed, what)
    users = []
    for record in qualifying:
        if record.user not in picked:
            continue
        dated = sorted(record.profile, key=lambda d: (d.date or (), d.position))[-chosen_split.window :]
        items = [d.item for d in dated]
        history, test = items[: chosen_split.history], items[chosen_split.history :]
        queries = [EvalQuery(id=item.id, input=item.input, gold=item.response) for item in test]
        users.append(EvalUser(user_id=record.user, task=spec.name, history=history, queries=queries))
    return users


def _one_record_per_user(records: Sequence[LampRecord]) -> list[LampRecord]:
    """Each user's record with the most profile items (the first on a tie), in order of first appearance."""
    best: dict[str, LampRecord] = {}
    for record in records:
        if record.user not in best or len(record.profile) > len(best[record.user].profile):
            best[record.user] = record
    return list(best.values())


def goqa_countries(
    questions: Sequence[GoqaQuestion], *, threshold: float = GOQA_THRESHOLD, minimum: int = 1
) -> dict[str, list[HistoryItem]]:
    """Each country's confident answers (top share > ``threshold``), for countries with at least ``minimum``.

    Countries are sorted by name; a country's items keep the file's question order.
    """
    kept: dict[str, list[HistoryItem]] = {}
    for question in questions:
        for country in question.selections:
            top = question.top(country)
            if top is not None and top[1] > threshold and (item := question.item(country)) is not None:
                kept.setdefault(country, []).append(item)
    return {country: items for country, items in sorted(kept.items()) if len(items) >= minimum}


def paper_goqa_users(
    questions: Sequence[GoqaQuestion],
    *,
    task: TaskSpec | str = GLOBAL_OPINION_QA,
    split: Split | None = None,
    threshold: float = GOQA_THRESHOLD,
    n_users: int | None = None,
    seed: int = 0,
) -> list[EvalUser]:
    """The paper's GlobalOpinionQA users: countries with enough confident answers, 40 sampled, 36 / 4.

    Each country's sample and split are seeded by ``(seed, country)``, so a country's split does not
    depend on which other countries are in the file.
    """
    spec = get_task(task)
    chosen_split = split or PAPER_SPLITS["goqa"]
    countries = goqa_countries(questions, threshold=threshold, minimum=chosen_split.window)
    what = f"countries have at least {chosen_split.window} questions whose top option exceeds {threshold}"
    picked = _pick(list(countries), n_users or chosen_split.users, seed, what)
    users = []
    for country, items in countries.items():
        if country not in picked:
            continue
        positions = random.Random(f"paper-protocol:{seed}:{country}").sample(range(len(items)), chosen_split.window)
        history = [items[i] for i in sorted(positions[: chosen_split.history])]
        test = [items[i] for i in sorted(positions[chosen_split.history :])]
        queries = [EvalQuery(id=i.id, input=i.input, gold=i.response, options=i.options) for i in test]
        users.append(EvalUser(user_id=country, task=spec.name, history=history, queries=queries))
    return users
