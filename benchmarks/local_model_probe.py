"""A 1-minute probe of a GGUF on the package's runtime: load time, and three movie-tag questions under an enum schema.

python -m benchmarks.local_model_probe PATH.gguf
"""

from __future__ import annotations

import os
import sys
import time

from langchain_rpm.cli._local_runtime import LocalRuntime, schema_grammar

SCHEMA = {
    "type": "object",
    "properties": {
        "reasoning": {"type": "string"},
        "answer": {"enum": ["comedy", "drama", "action", "horror", "romance"]},
    },
    "required": ["reasoning", "answer"],
}
QUESTIONS = [
    ("A detective hunts a serial killer in a rainy city.", "drama"),
    ("Two friends get lost on a hilarious road trip.", "comedy"),
    ("A ghost haunts a family in an old house.", "horror"),
]


def main() -> None:
    started = time.monotonic()
    runtime = LocalRuntime(sys.argv[1], n_ctx=4096, n_threads=1)
    print(f"load {time.monotonic() - started:.1f} s, load average {os.getloadavg()[0]:.1f}")
    grammar = schema_grammar(SCHEMA)
    for question, expected in QUESTIONS:
        prompt = runtime.render(
            [
                {"role": "system", "content": "You tag movies. Answer in JSON."},
                {"role": "user", "content": f"Which tag fits this movie? {question}"},
            ]
        )
        started = time.monotonic()
        reply = runtime.generate(prompt, grammar=grammar, max_tokens=128)
        print(f"{time.monotonic() - started:.1f} s, expected {expected}: {reply.text}")


if __name__ == "__main__":
    main()
