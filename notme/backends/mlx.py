"""MLX in process: the model notme trains, with or without a run's adapters, batched on mlx-lm."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from notme.backends.base import Backend, Chat


class MLXBackend(Backend):
    """`model` is a model folder / name notme resolves, or an already loaded (model, tokenizer) pair
    given as `loaded=` (the gate loads once and switches adapters on and off)."""

    name = "mlx"

    def __init__(self, model: str | Path | None = None, loaded: tuple[Any, Any] | None = None,
                 batch_size: int = 32, dtype: str = "auto", label: str | None = None,
                 adapters: str | Path | None = None) -> None:
        if loaded is None:
            from notme.models import load_model

            m, tokenizer, folder = load_model(model, dtype=dtype)
            if adapters:  # a run's LoRA, applied as trained (not fused)
                from mlx_lm.tuner.utils import load_adapters

                m = load_adapters(m, str(adapters))
            loaded, label = (m, tokenizer), label or str(folder) + (f" + {adapters}" if adapters else "")
        self.model, self.tokenizer = loaded
        self.batch_size = batch_size
        self.label = label or str(model)

    def prompt_tokens(self, chat: Chat) -> list[int]:
        return self.tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=True)

    def generate(self, chats: list[Chat], max_tokens: int,
                 progress: Callable[[int], None] | None = None) -> list[str]:
        from mlx_lm.generate import batch_generate

        prompts = [self.prompt_tokens(chat) for chat in chats]
        # Similar lengths together: less padding in each batch. Replies go back in the caller's order.
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        replies: list[str] = [""] * len(prompts)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            result = batch_generate(self.model, self.tokenizer, [prompts[i] for i in chunk], max_tokens=max_tokens,
                                    completion_batch_size=self.batch_size, prefill_batch_size=self.batch_size)
            for i, text in zip(chunk, result.texts, strict=True):
                replies[i] = text
            if progress:
                progress(len(chunk))
        return replies

    def stream(self, chat: Chat, max_tokens: int, temperature: float = 0.0) -> Iterator[str]:
        from mlx_lm.generate import stream_generate
        from mlx_lm.sample_utils import make_sampler

        for response in stream_generate(self.model, self.tokenizer, self.prompt_tokens(chat), max_tokens=max_tokens,
                                        sampler=make_sampler(temp=temperature)):
            if response.text:
                yield response.text

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.label}
