"""Synthetic LaMP-3 users whose answer rule switches after item M, and stable ones (seeded, written here).

Each item is a short product review built from phrases whose keywords the test responder
(``tests/support/rpm_fakes.py``) maps to factors: ``late`` / ``slow`` -> Shipping, ``broke`` /
``sturdy`` -> Durability, ``cheap`` / ``expensive`` -> Price, ``love`` / ``wedding`` -> Romance.

- **stable**: Shipping problems mean a low rating (1-2), anything else a high one (4-5), all along;
- **rule** switch: from item M on, the user no longer minds shipping (4-5) but minds a high price (1-2);
- **topic** switch: from item M on, the reviews are also about gifts (``love`` / ``wedding``), a topic
  the profile has no factor for, and those get 5.

``noise`` is the share of ratings drawn uniformly from 1-5 (a real user is not a rule). Every item has
an ISO 8601 ``time``, one day apart.

Example:
    >>> items = drift_user(0, n_items=30, switch_at=20, kind="rule")
    >>> len(items), items[0]["time"], items[0]["id"]
    (30, '2024-01-01T00:00:00+00:00', 'i000')
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

Kind = Literal["stable", "rule", "topic"]

SHIPPING = ["It arrived late.", "Shipping was slow."]
DURABILITY = ["It broke after a week.", "The build is sturdy."]
PRICE = ["It was cheap.", "It was expensive."]
GIFT = ["A present I love.", "Bought it for a wedding."]
START = datetime(2024, 1, 1, tzinfo=UTC)


def drift_user(
    seed: int, *, n_items: int = 40, switch_at: int = 24, kind: Kind = "rule", noise: float = 0.1
) -> list[dict[str, Any]]:
    """One user's items (``id``, ``input``, ``response``, ``time``), oldest first."""
    rng = random.Random(f"{seed}:{kind}")
    items = []
    for i in range(n_items):
        switched = kind != "stable" and i >= switch_at
        shipping, price = rng.random() < 0.5, rng.random() < 0.4
        phrases = [rng.choice(SHIPPING)] if shipping else []
        phrases += [rng.choice(PRICE)] if price else []
        phrases += [rng.choice(DURABILITY)] if not phrases or rng.random() < 0.3 else []
        gift = switched and kind == "topic" and rng.random() < 0.7
        if gift:
            phrases.append(rng.choice(GIFT))
        rating = _rating(rng, switched, kind, shipping, "expensive" in " ".join(phrases), gift)
        if rng.random() < noise:
            rating = rng.randint(1, 5)
        rng.shuffle(phrases)
        items.append(
            {
                "id": f"i{i:03d}",
                "input": " ".join(phrases),
                "response": str(rating),
                "time": (START + timedelta(days=i)).isoformat(),
            }
        )
    return items


def _rating(rng: random.Random, switched: bool, kind: Kind, shipping: bool, expensive: bool, gift: bool) -> int:
    low, high = rng.choice([1, 2]), rng.choice([4, 5])
    if switched and kind == "rule":
        return low if expensive else high
    if gift:
        return 5
    return low if shipping else high


def main(argv: list[str] | None = None) -> None:
    """Write ``--users`` users of each kind as JSONL rows (``user_id`` added) to ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--users", type=int, default=5)
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--switch-at", type=int, default=24)
    parser.add_argument("--out", type=Path, default=Path("drift_users.jsonl"))
    args = parser.parse_args(argv)
    with args.out.open("w") as out:
        for kind in ("stable", "rule", "topic"):
            for seed in range(args.users):
                for item in drift_user(seed, n_items=args.items, switch_at=args.switch_at, kind=kind):
                    out.write(json.dumps({"user_id": f"{kind}-{seed}", **item}) + "\n")


if __name__ == "__main__":
    main()
