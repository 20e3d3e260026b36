"""Write the synthetic demo dataset under ``langchain_rpm/data/demo/``.

Run: ``python -m scripts.make_demo_data`` (the LaMP users' texts are in ``demo_lamp_users.py``).

Every text here was written for this project. Each user follows a few consistent, discoverable
preferences (listed above its data and in ``data/demo/README.md``); the held-out query of each
LaMP user is one where the user's rule, not the generic answer, decides. The JSON files are
committed; this script only documents and reproduces them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scripts.demo_lamp_users import (
    LAMP2_PROMPT,
    LAMP2_USERS,
    LAMP3_PROMPT,
    LAMP3_USERS,
    LAMP5_PROMPT,
    LAMP5_USERS,
    Pairs,
)

DEMO_DIR = Path(__file__).resolve().parent.parent / "langchain_rpm" / "data" / "demo"

GOQA_COUNTRIES = ("Aldoria", "Brenmark", "Corvesta", "Dalmora")
GOQA_QUESTIONS: list[tuple[str, list[str], dict[str, int]]] = [
    (
        "How important is religion in your life?",
        ["Very important", "Somewhat important", "Not too important", "Not at all important"],
        {"Aldoria": 0, "Brenmark": 3, "Corvesta": 2, "Dalmora": 1},
    ),
    (
        "Who should be mainly responsible for ensuring that everyone is provided for?",
        ["The government", "Individuals themselves", "Both equally"],
        {"Aldoria": 0, "Brenmark": 2, "Corvesta": 1, "Dalmora": 0},
    ),
    (
        "Is it more important to have a strong leader or a democratic form of government?",
        ["A strong leader", "A democratic form of government"],
        {"Aldoria": 0, "Brenmark": 1, "Corvesta": 1, "Dalmora": 1},
    ),
    (
        "Should homosexuality be accepted by society?",
        ["Should be accepted", "Should not be accepted"],
        {"Aldoria": 1, "Brenmark": 0, "Corvesta": 0, "Dalmora": 0},
    ),
    (
        "Which should be the priority: protecting the environment or economic growth?",
        ["Protecting the environment", "Economic growth"],
        {"Aldoria": 1, "Brenmark": 0, "Corvesta": 1, "Dalmora": 0},
    ),
    (
        "How much do you trust the national government?",
        ["A great deal", "Quite a lot", "Not very much", "None at all"],
        {"Aldoria": 0, "Brenmark": 1, "Corvesta": 3, "Dalmora": 1},
    ),
    (
        "Is it necessary to believe in God in order to be moral and have good values?",
        ["Yes", "No"],
        {"Aldoria": 0, "Brenmark": 1, "Corvesta": 1, "Dalmora": 1},
    ),
    (
        "Should free-market competition or government regulation play the bigger role in the economy?",
        ["Free-market competition", "Government regulation"],
        {"Aldoria": 1, "Brenmark": 1, "Corvesta": 0, "Dalmora": 1},
    ),
    (
        "How important is it for children to learn obedience?",
        ["Very important", "Somewhat important", "Not important"],
        {"Aldoria": 0, "Brenmark": 2, "Corvesta": 2, "Dalmora": 1},
    ),
    (
        "Would you pay higher taxes to fund better public transport?",
        ["Yes", "No", "Not sure"],
        {"Aldoria": 1, "Brenmark": 0, "Corvesta": 1, "Dalmora": 0},
    ),
    # Corvesta has no data for this question: the loader skips it for Corvesta.
    (
        "Is it acceptable for the state to monitor online communication to prevent crime?",
        ["Acceptable", "Not acceptable"],
        {"Aldoria": 0, "Brenmark": 1, "Dalmora": 0},
    ),
]


def _selection(winner: int, n: int, strength: float) -> list[float]:
    """Probabilities over ``n`` options with ``winner`` the clear favourite, summing to 1 (2 decimals)."""
    others = [i for i in range(n) if i != winner]
    weights = [len(others) - k for k in range(len(others))]  # nearer options get more of the rest
    rest = 1.0 - strength
    probs = [0.0] * n
    probs[winner] = strength
    for i, w in zip(others, weights, strict=True):
        probs[i] = round(rest * w / sum(weights), 2)
    probs[winner] = round(1.0 - sum(p for i, p in enumerate(probs) if i != winner), 2)
    return probs


def _lamp_files(
    task: str, users: dict[str, tuple[Pairs, tuple[str, str]]], prompt: str, fields: tuple[str, str]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    input_field, answer_field = fields
    questions, golds = [], []
    for user_id, (history, (query, gold)) in users.items():
        profile = [
            {"id": f"{user_id}-h{i}", input_field: text, answer_field: str(answer)}
            for i, (text, answer) in enumerate(history, start=1)
        ]
        questions.append({"id": user_id, "input": prompt + query, "profile": profile})
        golds.append({"id": user_id, "output": gold})
    return questions, {"task": task, "golds": golds}


def build() -> dict[str, Any]:
    """All demo files, by file name."""
    files: dict[str, Any] = {}
    specs = [
        ("lamp2", "LaMP_2", LAMP2_USERS, LAMP2_PROMPT, ("description", "tag")),
        ("lamp3", "LaMP_3", LAMP3_USERS, LAMP3_PROMPT, ("text", "score")),
        ("lamp5", "LaMP_5", LAMP5_USERS, LAMP5_PROMPT, ("abstract", "title")),
    ]
    for name, task, users, prompt, fields in specs:
        questions, golds = _lamp_files(task, users, prompt, fields)
        files[f"{name}_questions.json"] = questions
        files[f"{name}_outputs.json"] = golds
    goqa = []
    for number, (question, options, winners) in enumerate(GOQA_QUESTIONS, start=1):
        selections = {
            country: _selection(winners[country], len(options), 0.52 + 0.04 * ((number + k) % 5))
            for k, country in enumerate(GOQA_COUNTRIES)
            if country in winners
        }
        goqa.append({"id": f"q{number:02d}", "question": question, "options": options, "selections": selections})
    files["goqa.json"] = goqa
    return files


def main() -> None:
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    for name, data in build().items():
        (DEMO_DIR / name).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {DEMO_DIR / name}")


if __name__ == "__main__":
    main()
