r"""The reasoning leak rule: does a stored reasoning path give the gold answer away?

A reasoning path is written with the user's real answer as a reference that it must never state
(DESIGN §2.4). The rule, per answer kind (text is compared as lowercase words, ``[a-z0-9]+``, so
case, punctuation and hyphens do not matter):

- **labels and options**: the answer's words appear in the reasoning as one phrase, in order
  (``"sci-fi"`` is found in "a Sci Fi plot"; ``"Not too important"`` is not found in "important").
- **ratings**: the rating is stated as a rating: ``N star(s)`` / ``N-star``, ``N/MAX`` or ``N out of
  MAX``, or a rating word followed by ``N`` with at most three filler words between (``rating of 4``,
  ``would rate it a 4``, ``gave this four``). ``N`` is the digit or the English word; a number that is
  part of a decimal (``4.5``) or a count ("4 of the 6 items") is not a rating.
- **text** (open-ended): the reasoning copies the answer or most of it: its longest run of the
  answer's words, in order, is at least ``min(len, max(3, ceil(0.6 x len)))`` words long, where
  ``len`` is the answer's word count (a one-word answer: the word; two words: both; ten words: six).

Example:
    >>> from langchain_rpm.tasks import LAMP2, LAMP3, LAMP5
    >>> find_leak(LAMP2, "Its Sci Fi setting decides it.", "sci-fi")
    "it names the answer 'sci-fi'"
    >>> find_leak(LAMP3, "Shipping counts in 4 of 6 items (mean 4.50).", "4") is None
    True
    >>> find_leak(LAMP3, "So this user would rate it a 4.", "4")
    "it states the rating 4 ('rate it a 4')"
    >>> title = "Sign Language Translation: A Keypoint Transformer Approach"
    >>> find_leak(LAMP5, "A keypoint transformer approach suits this author.", title) is None  # 4 < 5 words
    True
    >>> find_leak(LAMP5, "They would call it sign language translation, a keypoint transformer.", title)
    "it copies 6 of the answer's 7 words in a row ('sign language translation a keypoint transformer')"
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from langchain_rpm.tasks import TaskKind, TaskSpec

_NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
_RATING_WORDS = r"(?:rat(?:e|es|ed|ing|ings)|scor(?:e|es|ed|ing)|grade[sd]?|gives?|gave|giving|award(?:s|ed)?)"
_FILLER = r"(?:of|is|was|at|as|a|an|it|this|that|them|the|to|be|would|will|likely|probably|around|about)"


def words(text: str) -> list[str]:
    """Lowercase word tokens (letters and digits), the unit every rule compares."""
    return re.findall(r"[a-z0-9]+", text.lower())


def find_leak(task: TaskSpec, reasoning: str, answer: str, options: Sequence[str] | None = None) -> str | None:
    """How ``reasoning`` gives ``answer`` away (a short phrase for the retry feedback), or ``None``."""
    if task.kind is TaskKind.RATING:
        return _rating_leak(reasoning, answer, task.scale[1] if task.scale else 5)
    if task.kind is TaskKind.OPEN_ENDED:
        return _copy_leak(reasoning, answer)
    wanted = words(answer)
    if wanted and _contains(words(reasoning), wanted):
        return f"it names the answer {answer!r}"
    return None


def _contains(tokens: list[str], phrase: list[str]) -> bool:
    size = len(phrase)
    return any(tokens[i : i + size] == phrase for i in range(len(tokens) - size + 1))


def _rating_leak(reasoning: str, answer: str, top: int) -> str | None:
    try:
        value = int(float(answer))
    except ValueError:
        return None
    spelled = _NUMBER_WORDS[value] if 0 <= value < len(_NUMBER_WORDS) else str(value)
    number = rf"(?<![\d.,])(?:{value}|{spelled})(?![.,]\d|\d)"
    patterns = (
        rf"{number}\s*-?\s*stars?\b",
        rf"{number}\s*(?:/|out of)\s*{top}\b",
        rf"\b{_RATING_WORDS}(?:\s+{_FILLER}){{0,3}}\s+{number}(?!\s*(?:of|/|%|out of)\b)(?!%)",
    )
    for pattern in patterns:
        match = re.search(pattern, reasoning, flags=re.IGNORECASE)
        if match:
            return f"it states the rating {value} ({match.group(0)!r})"
    return None


def _copy_leak(reasoning: str, answer: str) -> str | None:
    wanted = words(answer)
    if not wanted:
        return None
    need = min(len(wanted), max(3, math.ceil(0.6 * len(wanted))))
    run, end = _longest_common_run(words(reasoning), wanted)
    if run < need:
        return None
    return f"it copies {run} of the answer's {len(wanted)} words in a row ({' '.join(wanted[end - run : end])!r})"


def _longest_common_run(tokens: list[str], wanted: list[str]) -> tuple[int, int]:
    """Length of the longest run of ``wanted`` found contiguous in ``tokens``, and where it ends in ``wanted``."""
    best, best_end = 0, 0
    previous = [0] * (len(wanted) + 1)
    for token in tokens:
        current = [0] * (len(wanted) + 1)
        for j, word in enumerate(wanted, 1):
            if token == word:
                current[j] = previous[j - 1] + 1
                if current[j] > best:
                    best, best_end = current[j], j
        previous = current
    return best, best_end
