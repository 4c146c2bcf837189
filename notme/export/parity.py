"""The parity check: an exported GGUF must say what the MLX model says, or the export fails.

For each check prompt, through the MLX model and through the GGUF in llama.cpp:
- the chat prompt the GGUF's own embedded template renders equals the one the MLX tokenizer renders
  (what Ollama and LM Studio will send is what the model was trained on);
- llama.cpp's tokenizer gives the same token ids as the MLX one for that prompt;
- the last-position logits point the same way (cosine ≥ the quantization's threshold);
- the GGUF's end-of-generation tokens include every stop token of the MLX tokenizer, and a short
  greedy reply in llama.cpp stops on one wherever the MLX model's reply stopped.
These are the three ways exports of other tools talk nonsense: template, tokenizer, stop tokens.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from notme.backends.base import Chat
from notme.backends.llamacpp import open_llama

CHECK_PROMPTS: list[Chat] = [
    [{"role": "user", "content": "Say hello back in three words."}],
    [{"role": "user", "content": "What's 12 + 30? Answer with just the number."}],
    [{"role": "user", "content": "Ünïcödé, emoji 😀, 你好, tabs\tand  double  spaces, 2024-12-06 — it's fine?"}],
    [{"role": "user", "content": "I'm moving house next week."},
     {"role": "assistant", "content": "Where to?"},
     {"role": "user", "content": "Lisbon. Any advice?"}],
]
REPLY_TOKENS = 48


@dataclass
class PromptParity:
    same_prompt: bool
    same_tokens: bool
    tokens: int
    cosine: float
    mlx_reply: str
    gguf_reply: str
    mlx_stopped: bool
    gguf_stopped: bool


@dataclass
class Parity:
    file: str
    threshold: float
    prompts: list[PromptParity] = field(default_factory=list)
    stop_tokens_ok: bool = True
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def min_cosine(self) -> float:
        return min((p.cosine for p in self.prompts), default=float("nan"))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"passed": self.passed, "min_cosine": self.min_cosine}


class MLXReference:
    """The model as trained (fused, or base + adapters), answering the check prompts once for every file."""

    def __init__(self, model: Any, tokenizer: Any, system: str = "") -> None:
        self.model, self.tokenizer = model, tokenizer
        self.chats = [([{"role": "system", "content": system}] if system else []) + chat for chat in CHECK_PROMPTS]
        self.rows = [self._answer(chat) for chat in self.chats]

    def _answer(self, chat: Chat) -> dict[str, Any]:
        import mlx.core as mx
        from mlx_lm.generate import stream_generate
        from mlx_lm.sample_utils import make_sampler

        text = self.tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        ids = list(self.tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=True))
        logits = np.array(self.model(mx.array([ids]))[0, -1].astype(mx.float32))
        reply, finish = "", None
        for response in stream_generate(self.model, self.tokenizer, ids, max_tokens=REPLY_TOKENS,
                                        sampler=make_sampler(temp=0.0)):
            reply += response.text
            finish = response.finish_reason
        return {"text": text, "ids": ids, "logits": logits, "reply": reply, "stopped": finish == "stop"}


def check_gguf(reference: MLXReference, gguf: Path, threshold: float, lora: Path | None = None) -> Parity:
    """Compare `gguf` (with the GGUF adapter `lora` applied, if given) with the reference."""
    import llama_cpp
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    label = f"{gguf.name} + {lora.name}" if lora else gguf.name
    result = Parity(label, threshold)
    llm = open_llama(gguf, n_ctx=2048, verbose=False, seed=0, **({"lora_path": str(lora)} if lora else {}))
    try:
        vocab = llama_cpp.llama_model_get_vocab(llm.model)
        missing = [i for i in sorted(reference.tokenizer.eos_token_ids) if not llama_cpp.llama_vocab_is_eog(vocab, i)]
        if missing:
            result.stop_tokens_ok = False
            result.failures.append(f"{label}: llama.cpp does not stop on token(s) {missing} "
                                   f"({', '.join(repr(reference.tokenizer.decode([i])) for i in missing)})")
        template = llm.metadata.get("tokenizer.chat_template", "")
        formatter = Jinja2ChatFormatter(template=template, eos_token=_token_text(llm, llm.token_eos()),
                                        bos_token=_token_text(llm, llm.token_bos()))
        for number, (chat, row) in enumerate(zip(reference.chats, reference.rows, strict=True), 1):
            prompt = formatter(messages=chat).prompt
            ids = llm.tokenize(row["text"].encode(), add_bos=False, special=True)
            llm.reset()
            llm.eval(ids)
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))
            cosine = _cosine(logits, row["logits"])
            llm.reset()
            out = llm.create_completion(ids, max_tokens=2 * REPLY_TOKENS, temperature=0.0, top_k=1)
            stopped = out["choices"][0]["finish_reason"] == "stop"
            check = PromptParity(prompt == row["text"], ids == row["ids"], len(ids), cosine, row["reply"],
                                 out["choices"][0]["text"], row["stopped"], stopped)
            result.prompts.append(check)
            where = f"{label}, check prompt {number}"
            if not check.same_prompt:
                result.failures.append(f"{where}: the GGUF's chat template renders a different prompt")
            if not check.same_tokens:
                result.failures.append(f"{where}: llama.cpp tokenizes the prompt differently "
                                       f"({len(ids)} vs {len(row['ids'])} tokens)")
            if not cosine >= threshold:
                result.failures.append(f"{where}: last-position logit cosine {cosine:.5f} < {threshold}")
            if row["stopped"] and not stopped:
                result.failures.append(f"{where}: the MLX reply ends on the end-of-turn token, the GGUF's runs on")
    finally:
        llm.close()
    return result


def _token_text(llm: Any, token: int) -> str:
    return llm.detokenize([token], special=True).decode("utf-8", errors="replace") if token >= 0 else ""


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    denominator = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / denominator) if denominator else float("nan")
