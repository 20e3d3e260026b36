"""One GGUF model on ``cyllama`` (prebuilt llama.cpp wheels): chat prompts in, grammar-constrained text out.

The loopback server (:mod:`langchain_rpm.cli._local_openai`) runs one :class:`LocalRuntime` and feeds it one
request at a time. What it does that a plain generate loop does not, each measured on 2 shared cores:

- Keeps the longest common token prefix of the previous prompt in the K/V cache: RPM's calls share long
  instructions, and re-reading them on every call cost 1.5-2x.
- Narrows llama.cpp's JSON-grammar ``space`` rule to ``| " "``: a greedy small model otherwise emits up to
  ~20 whitespace tokens between JSON tokens.
- A repeat penalty of 1.1: without it SmolLM2 loops inside JSON arrays until the token cap.
- One thread by default: with a busy second core, two threads fell to 3-8 tokens/s against ~38 with one.

Example:
    >>> narrow_space_rule('space ::= | " " | [ ]{0,20}').splitlines()
    ['space ::= | " "']
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_SPACE_RULE = re.compile(r"^space ::= .*$", re.MULTILINE)
REPEAT_PENALTY = 1.1
_PENALTY_WINDOW = 64
_GENERIC_JSON_SCHEMA: dict[str, Any] = {"type": "object"}


def narrow_space_rule(grammar: str) -> str:
    """Let JSON whitespace be nothing or one space (see the module docstring)."""
    return _SPACE_RULE.sub('space ::= | " "', grammar)


def schema_grammar(schema: dict[str, Any] | None) -> str:
    """The GBNF grammar that accepts exactly the JSON values ``schema`` allows (any object when ``None``)."""
    from cyllama.utils.json_schema_to_grammar import json_schema_to_grammar

    return narrow_space_rule(json_schema_to_grammar(schema or _GENERIC_JSON_SCHEMA))


class Abandoned(RuntimeError):
    """The caller of :meth:`LocalRuntime.generate` went away; nothing was returned."""


@dataclass(frozen=True)
class Generation:
    """What one call produced: the text, token counts, and why it stopped (``"stop"`` or ``"length"``)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


class LocalRuntime:
    """A loaded GGUF model with one context, generating under an optional grammar, one call at a time.

    Args:
        model_path: The GGUF file.
        n_ctx: Context window in tokens.
        n_threads: CPU threads for generation and prompt processing.
    """

    def __init__(self, model_path: str, *, n_ctx: int = 8192, n_threads: int = 1) -> None:
        from cyllama.llama import llama_cpp as llama

        llama.disable_logging()
        llama.ggml_backend_load_all()
        model_params = llama.LlamaModelParams()
        model_params.n_gpu_layers = 0
        model_params.use_extra_bufts = False  # AMX / repacked layouts crashed llama.cpp under Firecracker
        self._llama = llama
        self.model = llama.LlamaModel(model_path, model_params)
        self.vocab = self.model.get_vocab()
        ctx_params = llama.LlamaContextParams()
        ctx_params.n_ctx = min(n_ctx, self.model.n_ctx_train) if self.model.n_ctx_train > 0 else n_ctx
        ctx_params.n_batch = 512
        ctx_params.n_threads = n_threads
        ctx_params.n_threads_batch = n_threads
        ctx_params.no_perf = True
        self.ctx = llama.LlamaContext(self.model, ctx_params)
        self.n_ctx = int(ctx_params.n_ctx)
        self._template = self._chat_template()
        self._cached: list[int] = []  # tokens whose K/V entries the context holds, in order
        self._lock = threading.Lock()

    def _chat_template(self) -> str:
        """The GGUF's chat template, else llama.cpp's template named after the model family, else ChatML.

        A base model's GGUF (Gemma 3 270M's, for one) carries no template.
        """
        llama = self._llama
        family = next(
            (self.model.meta_val_str_by_index(i) for i in range(self.model.meta_count())
             if self.model.meta_key_by_index(i) == "general.basename"),
            "",
        )  # fmt: skip
        probe = [llama.LlamaChatMessage(role="user", content="hi")]
        for template in (self.model.get_default_chat_template(), family.split("-")[0].lower(), "chatml"):
            try:
                if template and self.model.chat_apply_template(template, probe, True):
                    return str(template)
            except RuntimeError:
                continue
        return "chatml"

    def render(self, messages: list[dict[str, str]]) -> str:
        """The prompt text for chat ``messages`` (``role``/``content``) under the model's chat template."""
        llama = self._llama
        chat = [llama.LlamaChatMessage(role=m["role"], content=m["content"]) for m in messages]
        return str(self.model.chat_apply_template(self._template, chat, True))

    def generate(
        self,
        prompt: str,
        *,
        grammar: str | None,
        max_tokens: int,
        temperature: float = 0.0,
        seed: int = 0,
        abandoned: Callable[[], bool] = lambda: False,
    ) -> Generation:
        """Generate up to ``max_tokens`` after ``prompt``, constrained by the GBNF ``grammar`` when given.

        ``abandoned`` is asked once the model is free and every 16 tokens: a caller that gave up (a client that
        timed out while queued) costs no further work.

        Raises:
            Abandoned: ``abandoned()`` said so.
        """
        with self._lock:
            if abandoned():
                raise Abandoned("the caller went away before its turn")
            tokens = self.vocab.tokenize(prompt, add_special=True, parse_special=True)
            budget = self.n_ctx - len(tokens)
            if budget <= 0:
                raise ValueError(f"the prompt has {len(tokens)} tokens; the context holds {self.n_ctx}")
            self._prefill(tokens)
            sampler = self._sampler(grammar, temperature, seed)
            generated: list[int] = []
            finish = "length"
            for step in range(min(max_tokens, budget)):
                if step % 16 == 15 and abandoned():
                    raise Abandoned("the caller went away during generation")
                token = sampler.sample(self.ctx, -1)
                if self.vocab.is_eog(token):
                    finish = "stop"
                    break
                generated.append(token)
                self._decode([token], len(self._cached))
                self._cached.append(token)
            text = self.vocab.detokenize(generated, 16 * len(generated) + 16, True, False) if generated else ""
            return Generation(text, len(tokens), len(generated), finish)

    def _prefill(self, tokens: list[int]) -> None:
        keep = 0
        limit = min(len(tokens), len(self._cached)) - 1  # always re-read the last prompt token for fresh logits
        while keep < limit and tokens[keep] == self._cached[keep]:
            keep += 1
        if not self.ctx.memory_seq_rm(0, keep, -1):
            self.ctx.kv_cache_clear()
            keep = 0
        self._cached = self._cached[:keep]
        for start in range(keep, len(tokens), 512):
            chunk = tokens[start : start + 512]
            self._decode(chunk, start)
            self._cached.extend(chunk)

    def _decode(self, tokens: list[int], position: int) -> None:
        try:
            self.ctx.decode(self._llama.llama_batch_get_one(tokens, position))
        except BaseException:
            self.ctx.kv_cache_clear()
            self._cached = []
            raise

    def _sampler(self, grammar: str | None, temperature: float, seed: int) -> Any:
        llama = self._llama
        params = llama.LlamaSamplerChainParams()
        params.no_perf = True
        sampler = llama.LlamaSampler(params)
        if grammar:
            sampler.add_grammar(self.vocab, grammar, "root")
        sampler.add_penalties(_PENALTY_WINDOW, REPEAT_PENALTY, 0.0, 0.0)
        if temperature <= 0.0:
            sampler.add_greedy()
        else:
            sampler.add_temp(temperature)
            sampler.add_dist(seed)
        return sampler
